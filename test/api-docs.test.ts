/**
 * Every name reachable from the package entry point carries TSDoc: read the built
 * declarations (dist/index.d.ts) with the compiler API, walk the exports through the
 * `export * as` namespaces, and list each exported symbol, public class or interface
 * member, and class constructor with parameters that has no documentation comment.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'path';
import * as ts from 'typescript';

const dist = path.join(__dirname, '..', '..', 'dist');
const entry = path.join(dist, 'index.d.ts');

interface Walk {
  checker: ts.TypeChecker;
  /** Names (e.g. `data.DataLoader.epoch`) that lack a documentation comment. */
  missing: string[];
  /** How many symbols and members were checked. */
  checked: number;
  /** Each declaration is checked once, under the first name it is reached by. */
  seen: Set<ts.Symbol>;
}

function documented(checker: ts.TypeChecker, symbol: ts.Symbol): boolean {
  return ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim().length > 0;
}

/**
 * The doc comment of an `export * as ns from './ns'` statement (the compiler attaches
 * none to the namespace symbol itself, and a module's file comment is not kept).
 */
function namespaceDocumented(symbol: ts.Symbol): boolean {
  return (symbol.getDeclarations() ?? []).some((decl) => {
    const docs = ts.getJSDocCommentsAndTags(ts.isNamespaceExport(decl) ? decl.parent : decl).filter(ts.isJSDoc);
    const last = docs[docs.length - 1];
    return last !== undefined && (ts.getTextOfJSDocComment(last.comment) ?? '').trim().length > 0;
  });
}

/** True for declarations in this package's build output (not lib.d.ts, node or sharp types). */
function ours(decl: ts.Declaration): boolean {
  return path.resolve(decl.getSourceFile().fileName).startsWith(dist + path.sep);
}

function isHidden(decl: ts.Declaration): boolean {
  const flags = ts.getCombinedModifierFlags(decl);
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0;
}

function checkMembers(w: Walk, owner: string, members: ts.Symbol[]): void {
  for (const member of members) {
    const name = member.getName();
    if (name.startsWith('_') || name.startsWith('#') || name === 'prototype') continue;
    const decls = member.getDeclarations() ?? [];
    // Members inherited from Error, Object or other libraries are documented there.
    if (decls.length === 0 || !decls.some(ours)) continue;
    if (decls.some(isHidden)) continue;
    w.checked++;
    if (!documented(w.checker, member)) w.missing.push(`${owner}.${name}`);
  }
}

function checkClass(w: Walk, name: string, symbol: ts.Symbol): void {
  const instance = w.checker.getDeclaredTypeOfSymbol(symbol);
  checkMembers(w, name, w.checker.getPropertiesOfType(instance));
  const statics = w.checker.getTypeOfSymbol(symbol);
  checkMembers(w, name, w.checker.getPropertiesOfType(statics));
  for (const decl of symbol.getDeclarations() ?? []) {
    if (!ts.isClassDeclaration(decl)) continue;
    for (const ctor of decl.members.filter(ts.isConstructorDeclaration)) {
      if (ctor.parameters.length === 0 || isHidden(ctor)) continue;
      w.checked++;
      const signature = w.checker.getSignatureFromDeclaration(ctor);
      const docs = signature ? ts.displayPartsToString(signature.getDocumentationComment(w.checker)).trim() : '';
      if (!docs) w.missing.push(`${name}.constructor`);
    }
  }
}

function checkInterface(w: Walk, name: string, symbol: ts.Symbol): void {
  checkMembers(w, name, w.checker.getPropertiesOfType(w.checker.getDeclaredTypeOfSymbol(symbol)));
}

function walkModule(w: Walk, prefix: string, moduleSymbol: ts.Symbol): void {
  for (const exported of w.checker.getExportsOfModule(moduleSymbol)) {
    const name = prefix + exported.getName();
    const target = exported.flags & ts.SymbolFlags.Alias ? w.checker.getAliasedSymbol(exported) : exported;
    if (target.flags & ts.SymbolFlags.ValueModule) {
      // `export * as ops from './ops'`: the namespace is documented where it is exported.
      w.checked++;
      if (!namespaceDocumented(exported)) w.missing.push(name);
      if (!w.seen.has(target)) {
        w.seen.add(target);
        walkModule(w, `${name}.`, target);
      }
      continue;
    }
    if (w.seen.has(target)) continue;
    w.seen.add(target);
    const decls = target.getDeclarations() ?? [];
    if (!decls.some(ours)) continue;
    w.checked++;
    if (!documented(w.checker, target) && !documented(w.checker, exported)) w.missing.push(name);
    if (target.flags & ts.SymbolFlags.Class) checkClass(w, name, target);
    else if (target.flags & ts.SymbolFlags.Interface) checkInterface(w, name, target);
  }
}

test('every export of dist/index.d.ts, and every public member, has a doc comment', () => {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    lib: ['lib.es2022.d.ts'],
    types: [],
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source, `declarations are built: ${entry}`);
  const moduleSymbol = checker.getSymbolAtLocation(source!);
  assert.ok(moduleSymbol, 'dist/index.d.ts is a module');
  const w: Walk = { checker, missing: [], checked: 0, seen: new Set() };
  walkModule(w, '', moduleSymbol!);
  assert.ok(w.checked > 100, `walked the public API (${w.checked} names)`);
  if (w.missing.length > 0) console.log(`undocumented (${w.missing.length} of ${w.checked}):\n  ${w.missing.join('\n  ')}`);
  assert.equal(w.missing, [], `${w.missing.length} public names lack a doc comment: ${w.missing.join(', ')}`);
});

test.run();
