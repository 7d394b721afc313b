#!/usr/bin/env node
/**
 * An image-classification HTTP service around a trained checkpoint: the smallest useful way
 * to embed bagoftricks in a Node program.
 *
 *   node examples/classify-server.js --checkpoint runs/<run>/best.safetensors [--port 8080]
 *   node examples/classify-server.js --checkpoint resnet50d.safetensors --model resnet50d   # a timm state dict
 *
 *   curl --data-binary @cat.jpg http://localhost:8080/classify            # the image as the body
 *   curl -F image=@cat.jpg -F image=@dog.png http://localhost:8080/classify?topk=3   # form upload
 *   curl http://localhost:8080/health
 *
 * POST /classify answers {"results":[{"name","top":[{"label","index","score"}]}],"queueMs","inferenceMs"},
 * one entry per image in upload order; an image that cannot be decoded gets
 * {"name","error":{"code","message"}} and the others are still classified. Errors: 400 (no
 * image, bad topk), 404, 405, 413 (body over --max-bytes, answered as soon as the limit is
 * passed or announced, without reading the rest; more than --max-parts files; more than
 * --max-pixels decoded pixels in one request), 503 with Retry-After when --concurrency requests
 * run and --queue more wait (and while shutting down). Each request's queue time is in the
 * answer (queueMs) and the x-queue-ms header. An upload the client aborts is one log line.
 * SIGINT/SIGTERM stop accepting, finish the requests in flight, free the model and exit.
 */
'use strict';
const http = require('http');
const sharp = require('sharp');
const { load, BagOfTricksError } = require('bagoftricks');

/** Defaults: 16 MiB per request, 16 files per form, 64 megapixels decoded per request, one request classified at a time and 32 waiting. */
const DEFAULTS = { maxBytes: 16 << 20, maxParts: 16, maxPixels: 64_000_000, concurrency: 1, queue: 32 };

function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--checkpoint') opts.checkpoint = value;
    else if (flag === '--model') opts.model = value;
    else if (flag === '--port') opts.port = Number(value);
    else if (flag === '--host') opts.host = value;
    else if (flag === '--max-bytes') opts.maxBytes = Number(value);
    else if (flag === '--max-parts') opts.maxParts = Number(value);
    else if (flag === '--max-pixels') opts.maxPixels = Number(value);
    else if (flag === '--concurrency') opts.concurrency = Number(value);
    else if (flag === '--queue') opts.queue = Number(value);
    else throw new Error(`unknown option ${flag}`);
    i++;
  }
  if (!opts.checkpoint) throw new Error('--checkpoint F is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be an integer in [0, 65535]');
  if (!(opts.maxBytes > 0)) throw new Error('--max-bytes must be > 0');
  for (const k of ['maxParts', 'maxPixels', 'concurrency']) if (!(Number.isInteger(opts[k]) && opts[k] >= 1)) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be an integer ≥ 1`);
  if (!(Number.isInteger(opts.queue) && opts.queue >= 0)) throw new Error('--queue must be an integer ≥ 0');
  return opts;
}

const LINGER_MS = 2000;

/**
 * Makes the HTTP server's close of `socket` (its destroySoon once the response is written)
 * a lingering one: end the writing side, keep reading (the server drops the rest of the
 * request body), and destroy the socket when the client closes its side or after LINGER_MS.
 */
function lingerOnClose(socket) {
  socket.destroySoon = function lingeringClose() {
    if (this.destroyed) return;
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}

/**
 * The body; rejects with { status: 413 } as soon as it passes maxBytes (the rest is not
 * read), and with { aborted: true } when the client goes away.
 */
function readBody(req, maxBytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (c) => {
      size += c.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        reject(Object.assign(new Error('too large'), { status: 413, received: size }));
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('aborted', () => reject(Object.assign(new Error('aborted'), { aborted: true, received: size })));
    req.on('error', (e) => reject(Object.assign(e, { aborted: true, received: size })));
  });
}

/**
 * The file parts of a multipart/form-data body: [{ name, data }]. Counting stops past
 * maxParts: the result then has maxParts + 1 entries.
 */
function multipartFiles(body, contentType, maxParts = Infinity) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) return [];
  const boundary = Buffer.from(`--${m[1] || m[2]}`);
  const files = [];
  let start = body.indexOf(boundary);
  while (start !== -1 && files.length <= maxParts) {
    const next = body.indexOf(boundary, start + boundary.length);
    if (next === -1) break;
    const part = body.subarray(start + boundary.length + 2, next - 2); // skip CRLF after the boundary and before the next
    const split = part.indexOf('\r\n\r\n');
    if (split !== -1) {
      const head = part.subarray(0, split).toString('utf8');
      const filename = /filename="([^"]*)"/i.exec(head);
      if (filename) files.push({ name: filename[1] || `file ${files.length + 1}`, data: part.subarray(split + 4) });
    }
    start = next;
  }
  return files;
}

/** Pixels an encoded image declares in its header (0 when it has no readable header: predict reports it). */
async function declaredPixels(data) {
  try {
    const m = await sharp(data, { limitInputPixels: false }).metadata();
    return (m.width || 0) * (m.height || 0) * Math.max(1, m.pages || 1);
  } catch {
    return 0;
  }
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function createServer(classifier, options = {}) {
  const { maxBytes, maxParts, maxPixels, concurrency, queue } = { ...DEFAULTS, ...options };
  let closing = false;
  // Admission: at most concurrency + queue requests past the door (reading, waiting or running).
  let admitted = 0;
  let running = 0;
  const waiting = [];
  const slot = () => (running < concurrency ? Promise.resolve(++running) : new Promise((resolve) => waiting.push(resolve)));
  const release = () => {
    const next = waiting.shift();
    if (next) next(running);
    else running--;
  };
  const log = (line) => console.error(`classify-server: ${line}`);
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (e && e.aborted) {
        log(`upload aborted by the client: ${req.method} ${req.url}, ${e.received ?? 0} bytes received`);
        res.destroy();
        return;
      }
      log(`500 on ${req.method} ${req.url}: ${e && e.message ? e.message.split('\n')[0] : e}`);
      if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'the server failed on this request' } });
      else res.destroy();
    });
  });
  /**
   * Answers at once and closes the connection, without waiting for the rest of the body. The
   * close lingers: the answer is followed by a FIN, and what the client is still sending is
   * read and dropped for up to LINGER_MS before the socket is destroyed. Destroying a socket
   * with unread data resets the connection, and the reset can reach the client before it has
   * read the answer, which it would then never see.
   */
  const refuse = (req, res, status, body, headers = {}) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('connection', 'close');
    lingerOnClose(req.socket);
    send(res, status, body);
    req.resume(); // what arrives while the close lingers is dropped
  };
  const tooLarge = { error: { code: 'TOO_LARGE', message: `the upload is over ${maxBytes} bytes` } };
  const handle = async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (closing) return refuse(req, res, 503, { error: { code: 'SHUTTING_DOWN', message: 'the server is stopping' } }, { 'retry-after': '5' });
    if (url.pathname === '/health') {
      if (req.method !== 'GET') return send(res, 405, { error: { code: 'METHOD', message: 'GET /health' } });
      return send(res, 200, { model: classifier.model.name, classes: classifier.classes, inputSize: classifier.inputSize });
    }
    if (url.pathname !== '/classify') return send(res, 404, { error: { code: 'NOT_FOUND', message: 'POST /classify or GET /health' } });
    if (req.method !== 'POST') return send(res, 405, { error: { code: 'METHOD', message: 'POST an image to /classify' } });
    const topk = url.searchParams.has('topk') ? Number(url.searchParams.get('topk')) : Math.min(5, classifier.classes.length);
    if (!Number.isInteger(topk) || topk < 1 || topk > classifier.classes.length) {
      return send(res, 400, { error: { code: 'BAD_TOPK', message: `topk must be an integer in [1, ${classifier.classes.length}]` } });
    }
    const declared = Number(req.headers['content-length']);
    if (declared > maxBytes) return refuse(req, res, 413, tooLarge);
    if (admitted >= concurrency + queue) {
      return refuse(req, res, 503, { error: { code: 'BUSY', message: `${running} requests running and ${waiting.length} waiting: retry later` } }, { 'retry-after': '1' });
    }
    admitted++;
    try {
      let body;
      try {
        body = await readBody(req, maxBytes);
      } catch (e) {
        if (e.status === 413) return refuse(req, res, 413, tooLarge);
        throw e;
      }
      const type = req.headers['content-type'] || '';
      const images = /^multipart\/form-data/i.test(type) ? multipartFiles(body, type, maxParts) : body.length ? [{ name: 'body', data: body }] : [];
      if (images.length > maxParts) return send(res, 413, { error: { code: 'TOO_MANY_PARTS', message: `more than ${maxParts} files in one request` } });
      if (images.length === 0) return send(res, 400, { error: { code: 'NO_IMAGE', message: 'send an image as the body, or as file fields of a form' } });
      let pixels = 0;
      for (const img of images) pixels += await declaredPixels(img.data);
      if (pixels > maxPixels) return send(res, 413, { error: { code: 'TOO_MANY_PIXELS', message: `${pixels} pixels in one request, more than ${maxPixels}` } });
      const queued = performance.now();
      await slot();
      const started = performance.now();
      const results = [];
      try {
        for (const img of images) {
          try {
            results.push({ name: img.name, top: await classifier.predict(img.data, { topk }) });
          } catch (e) {
            if (!(e instanceof BagOfTricksError)) throw e;
            results.push({ name: img.name, error: { code: e.code, message: e.message } });
          }
        }
      } finally {
        release();
      }
      const queueMs = Math.round((started - queued) * 10) / 10;
      res.setHeader('x-queue-ms', String(queueMs));
      send(res, 200, { results, queueMs, inferenceMs: Math.round((performance.now() - started) * 10) / 10 });
    } finally {
      admitted--;
    }
  };
  server.shutdown = () =>
    new Promise((resolve) => {
      closing = true;
      server.close(() => resolve());
      server.closeIdleConnections?.();
    });
  return server;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`classify-server: ${e.message}`);
    process.exitCode = 2;
    return;
  }
  const classifier = await load(opts.checkpoint, opts.model ? { model: opts.model } : {});
  const server = createServer(classifier, opts);
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    console.log(`classify-server: ${classifier.model.name}, ${classifier.classes.length} classes, listening on http://${opts.host}:${port}`);
  });
  const stop = async () => {
    await server.shutdown();
    classifier.dispose();
    console.log('classify-server: stopped');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`classify-server: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    process.exitCode = 1;
  });
}

module.exports = { createServer, multipartFiles };
