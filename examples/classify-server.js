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
 * POST /classify answers {"results":[{"name","top":[{"label","index","score"}]}]}, one entry per
 * image in upload order; an image that cannot be decoded gets {"name","error":{"code","message"}}
 * and the others are still classified. Errors: 400 (no image, bad topk), 404, 405, 413 (body over
 * --max-bytes), 503 while shutting down. SIGINT/SIGTERM stop accepting, finish the requests in
 * flight, free the model and exit.
 */
'use strict';
const http = require('http');
const { load, BagOfTricksError } = require('bagoftricks');

function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', maxBytes: 16 << 20 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--checkpoint') opts.checkpoint = value;
    else if (flag === '--model') opts.model = value;
    else if (flag === '--port') opts.port = Number(value);
    else if (flag === '--host') opts.host = value;
    else if (flag === '--max-bytes') opts.maxBytes = Number(value);
    else throw new Error(`unknown option ${flag}`);
    i++;
  }
  if (!opts.checkpoint) throw new Error('--checkpoint F is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be an integer in [0, 65535]');
  if (!(opts.maxBytes > 0)) throw new Error('--max-bytes must be > 0');
  return opts;
}

/** The body, or null once it passes maxBytes (the rest is drained and dropped). */
function readBody(req, maxBytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let over = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > maxBytes) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The file parts of a multipart/form-data body: [{ name, data }]. */
function multipartFiles(body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) return [];
  const boundary = Buffer.from(`--${m[1] || m[2]}`);
  const files = [];
  let start = body.indexOf(boundary);
  while (start !== -1) {
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

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function createServer(classifier, { maxBytes = 16 << 20 } = {}) {
  let closing = false;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error(`classify-server: ${e.stack || e}`);
      if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'the server failed on this request' } });
      else res.destroy();
    });
  });
  const handle = async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (closing) return send(res, 503, { error: { code: 'SHUTTING_DOWN', message: 'the server is stopping' } });
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
    const body = await readBody(req, maxBytes);
    if (body === null) return send(res, 413, { error: { code: 'TOO_LARGE', message: `the upload is over ${maxBytes} bytes` } });
    const type = req.headers['content-type'] || '';
    const images = /^multipart\/form-data/i.test(type) ? multipartFiles(body, type) : body.length ? [{ name: 'body', data: body }] : [];
    if (images.length === 0) return send(res, 400, { error: { code: 'NO_IMAGE', message: 'send an image as the body, or as file fields of a form' } });
    const results = [];
    for (const img of images) {
      try {
        results.push({ name: img.name, top: await classifier.predict(img.data, { topk }) });
      } catch (e) {
        if (!(e instanceof BagOfTricksError)) throw e;
        results.push({ name: img.name, error: { code: e.code, message: e.message } });
      }
    }
    send(res, 200, { results });
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
