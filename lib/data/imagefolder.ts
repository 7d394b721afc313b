/**
 * ImageFolder: one subfolder per class (torchvision's layout), class names sorted to indices,
 * image files found recursively inside each class folder.
 *
 *     root/cat/0001.jpg, root/cat/more/x.png, root/dog/photo  →  classes ['cat', 'dog']
 *
 * Files are recognised by their content, not by their extension alone: with the default
 * `detect: 'content'` the first bytes of every file are matched against the signatures of
 * the formats sharp decodes (JPEG, PNG, WebP, GIF, TIFF, AVIF). A photo without an extension
 * is found; a README, a zero-byte file or a text file named .jpg is not, and is listed in
 * `ignored` with the reason. `detect: 'extension'` trusts image extensions (no read per file,
 * for very large trees) and sniffs only the other files; a bad file then surfaces when the
 * loader decodes it (skipped and reported there). Names starting with '.' are skipped.
 * A class folder without a single image is an error (ERR_DATASET): no class is lost silently.
 *
 * Nothing vanishes from the listing without a word: a symbolic link whose target is missing
 * ('dangling-link'), a link that loops back to a folder being listed or cannot be resolved
 * ('link-loop'), and a name that is not valid UTF-8 ('bad-name': Node could not open it by
 * its decoded name) are listed in `ignored` with the reason, like empty and non-image files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { expectKeys, expectObject, fail } from '../validate';
import { ImageList, expectNoEmptyClass } from './dataset';
import { datasetError } from './errors';

/** Options of `new ImageFolder(dir, options)`. Unknown keys throw ERR_ARGUMENT. */
export interface ImageFolderOptions {
  /** 'content' (default): read each file's first bytes; 'extension': trust image extensions. */
  detect?: 'content' | 'extension';
}

/** A file of the tree that is not part of the data set, and why. */
export interface IgnoredFile {
  /** The file's path. */
  path: string;
  /**
   * Why it was left out: not an image by content, zero bytes, unreadable, not inside a class
   * folder, a symbolic link to nothing, a link that loops, or a name that is not valid UTF-8.
   */
  reason: 'not-image' | 'empty' | 'unreadable' | 'outside-class' | 'dangling-link' | 'link-loop' | 'bad-name';
}

/** Extensions of the formats sharp decodes from files (its prebuilt binaries). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic', '.heif'];

const SNIFF_BYTES = 32;

/** The image format a file starts with, or null. Covers the formats sharp reads from buffers. */
export function sniffImageFormat(head: Uint8Array): string | null {
  const at = (i: number, bytes: number[]) => bytes.every((b, k) => head[i + k] === b);
  const ascii = (i: number, s: string) => at(i, Array.from(s, (ch) => ch.charCodeAt(0)));
  if (head.length >= 3 && at(0, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (head.length >= 8 && at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (head.length >= 6 && (ascii(0, 'GIF87a') || ascii(0, 'GIF89a'))) return 'gif';
  if (head.length >= 12 && ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (head.length >= 4 && (at(0, [0x49, 0x49, 0x2a, 0x00]) || at(0, [0x4d, 0x4d, 0x00, 0x2a]))) return 'tiff';
  if (head.length >= 12 && ascii(4, 'ftyp')) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    if (['avif', 'avis', 'heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'heif';
  }
  return null;
}

/** Reads a file's first bytes; null when it cannot be read. */
function readHead(file: string): Uint8Array | null {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(SNIFF_BYTES);
    const n = fs.readSync(fd, buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, n);
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * A data set in torchvision's ImageFolder layout: one subfolder per class, class names sorted
 * in code-point order to indices 0, 1, ..., image files found recursively (by content, see
 * ImageFolderOptions.detect). Names starting with '.' are skipped; files that are not images
 * are listed in `ignored`.
 *
 * @example
 * ```js
 * const { data } = require('bagoftricks');
 * const photos = new data.ImageFolder('photos/');         // photos/cat/*.jpg, photos/dog/*.jpg
 * console.log(photos.summary());                          // "120 images in 2 classes (cat 60, dog 60)"
 * const { train, val } = photos.split({ val: 0.1, seed: 0 });
 * ```
 */
export class ImageFolder extends ImageList {
  /** The root folder, resolved. */
  readonly root: string;
  /** Files under the root that are not in the data set, with the reason. */
  readonly ignored: readonly IgnoredFile[];

  /**
   * Scans `dir` now (synchronously); the images are read later, by the DataLoader.
   * @param dir - The root folder, one subfolder per class.
   * @param options - How files are recognised (default: by content).
   * @throws BagOfTricksError ERR_ARGUMENT when `dir` is not an existing folder or an option is
   * bad; DataError ERR_DATASET when there are no class folders or a class has no image.
   */
  constructor(dir: string, options: ImageFolderOptions = {}) {
    if (typeof dir !== 'string' || dir.length === 0) fail('ERR_ARGUMENT', 'a folder path', 'dir', dir);
    const o = expectObject('options', options);
    expectKeys('options', o, ['detect']);
    const detect = options.detect ?? 'content';
    if (detect !== 'content' && detect !== 'extension') fail('ERR_ARGUMENT', "'content' or 'extension'", 'options.detect', detect);
    const root = path.resolve(dir);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(root);
    } catch {
      fail('ERR_ARGUMENT', 'an existing folder with one subfolder per class', 'dir', dir);
    }
    if (!stat.isDirectory()) fail('ERR_ARGUMENT', 'a folder with one subfolder per class', 'dir', dir);

    const ignored: IgnoredFile[] = [];
    const classes: string[] = [];
    for (const { name, full, bad } of entries(root)) {
      if (bad) {
        ignored.push({ path: full, reason: bad });
        continue;
      }
      const kind = entryKind(full);
      if (kind === 'dir') classes.push(name);
      else ignored.push({ path: full, reason: kind === 'file' ? 'outside-class' : kind });
    }
    if (classes.length === 0) throw datasetError(`ImageFolder ${root}: no class folders (expected one subfolder per class)`);

    const files: string[] = [];
    const labels: number[] = [];
    const counts = new Array<number>(classes.length).fill(0);
    classes.forEach((cls, c) => {
      const found = listImages(path.join(root, cls), { detect });
      for (const file of found.files) {
        files.push(file);
        labels.push(c);
      }
      counts[c] = found.files.length;
      ignored.push(...found.ignored);
    });
    expectNoEmptyClass(`ImageFolder ${root}`, classes, counts);
    super(files, labels, classes);
    this.root = root;
    this.ignored = ignored;
  }
}

/**
 * The image files under dir, recursively, sorted by path, recognised as ImageFolder does
 * (see `detect`), and the other files with the reason they were left out.
 */
export function listImages(dir: string, options: ImageFolderOptions = {}): { files: string[]; ignored: IgnoredFile[] } {
  const detect = options.detect ?? 'content';
  if (!isDir(dir)) fail('ERR_ARGUMENT', 'an existing folder', 'dir', dir);
  const files: string[] = [];
  const ignored: IgnoredFile[] = [];
  for (const entry of walk(path.resolve(dir))) {
    if (typeof entry !== 'string') {
      ignored.push(entry);
      continue;
    }
    const verdict = classify(entry, detect);
    if (verdict === 'image') files.push(entry);
    else ignored.push({ path: entry, reason: verdict });
  }
  return { files, ignored };
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory(); // follows symbolic links
  } catch {
    return false;
  }
}

/** The entries of a folder not starting with '.', sorted by name; a name that is not valid UTF-8 is marked 'bad-name'. */
function entries(dir: string): { name: string; full: string; bad?: 'bad-name' }[] {
  const out: { name: string; full: string; bad?: 'bad-name' }[] = [];
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  for (const raw of fs.readdirSync(dir, { encoding: 'buffer' })) {
    let name: string;
    let bad: 'bad-name' | undefined;
    try {
      name = utf8.decode(raw);
    } catch {
      name = raw.toString('utf8'); // with U+FFFD where the bytes are not UTF-8: for the report only
      bad = 'bad-name';
    }
    if (name.startsWith('.')) continue;
    out.push({ name, full: path.join(dir, name), ...(bad ? { bad } : {}) });
  }
  // Code-point order, as Python's sorted(): independent of the locale.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What a path is, following symbolic links: a folder, something else, a link to nothing, or a link that loops. */
function entryKind(p: string): 'dir' | 'file' | 'dangling-link' | 'link-loop' {
  try {
    return fs.statSync(p).isDirectory() ? 'dir' : 'file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'link-loop';
    let link = false;
    try {
      link = fs.lstatSync(p).isSymbolicLink();
    } catch {
      link = false;
    }
    return link && code === 'ENOENT' ? 'dangling-link' : 'file'; // anything else: reported when it is read
  }
}

/**
 * Files under dir, recursively, sorted by path; symbolic links followed, and each folder
 * listed once. What cannot be listed comes back as an IgnoredFile in place of its path.
 */
function walk(dir: string): (string | IgnoredFile)[] {
  const out: (string | IgnoredFile)[] = [];
  const seen = new Set<string>();
  const visit = (d: string, ancestors: Set<string>) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (ancestors.has(key)) {
      out.push({ path: d, reason: 'link-loop' });
      return;
    }
    if (seen.has(key)) return; // the same folder reached by another link: its files are listed once
    seen.add(key);
    const inside = new Set(ancestors).add(key);
    for (const { full, bad } of entries(d)) {
      if (bad) {
        out.push({ path: full, reason: bad });
        continue;
      }
      const kind = entryKind(full);
      if (kind === 'dir') visit(full, inside);
      else if (kind === 'file') out.push(full);
      else out.push({ path: full, reason: kind });
    }
  };
  visit(dir, new Set());
  return out;
}

function classify(file: string, detect: 'content' | 'extension'): 'image' | IgnoredFile['reason'] {
  if (detect === 'extension' && IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase())) return 'image';
  const head = readHead(file);
  if (head === null) return 'unreadable';
  if (head.length === 0) return 'empty';
  return sniffImageFormat(head) ? 'image' : 'not-image';
}
