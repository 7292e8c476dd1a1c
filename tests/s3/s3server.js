// A loopback S3 server for Cairn's tests: @20minutes/s3rver 5.0.0, which
// verifies SigV4 signatures, with its built-in S3RVER/S3RVER key removed and
// anonymous requests refused.
//
//   NODE_PATH=<dir>/node_modules node --openssl-legacy-provider s3server.js \
//       DIR PORT ACCESS_KEY SECRET [--tls KEY.pem CERT.pem] [BUCKET...]
//
// Patches to s3rver's filesystem store, each making it behave as real S3 does
// where Cairn's storage contract (and its conformance suite) depends on it:
//  - s3rver writes an object's file and its metadata files in place, so a
//    reader racing a PUT can see half an object or fail on half a JSON file
//    (500). Real S3 replaces objects atomically; here every file is written
//    to a temporary name and renamed over. (The object and its metadata are
//    still separate files: a GET racing an overwrite of a different size can
//    see a mismatched length.)
//  - s3rver escapes XML text twice (its builder's entity processing on top
//    of he.escape), so a key "a&b" is listed as "a&amp;amp;b". Real S3
//    escapes once; the wrapper undoes the outer layer of every XML answer
//    (each '&' the outer layer added became "&amp;", so "&amp;" -> "&").
//  - Range GETs: s3rver ignores a range end of 0 ("bytes=0-0" returns the
//    whole object) and answers a range on an empty object with a broken 206;
//    real S3 returns the one byte, and 416 InvalidRange respectively.
//
// PORT 0 picks a free port. Prints "listening ADDRESS:PORT" on stdout once
// it accepts connections. Exits on SIGTERM/SIGINT and when its stdin closes,
// so a test that dies does not leave the server behind.
// (--openssl-legacy-provider: s3rver makes ListObjectsV2 continuation tokens
// with DES, which OpenSSL 3 refuses without it.)
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const { pipeline, Readable, Transform } = require('node:stream');
const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');
const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem');

const S3Object = require('@20minutes/s3rver/lib/models/object');

let tempCounter = 0;
const tempName = (target) => `${target}.cairn-tmp-${process.pid}-${++tempCounter}`;

async function writeFileAtomically(target, data) {
  const temp = tempName(target);
  try {
    await fs.promises.writeFile(temp, data);
    await fs.promises.rename(temp, target);
  } catch (err) {
    await fs.promises.unlink(temp).catch(() => {});
    throw err;
  }
}

FilesystemStore.prototype.putMetadata = async function putMetadataAtomically(bucket, key, metadata, md5) {
  const json = {};
  for (const name of S3Object.ALLOWED_METADATA) if (name in metadata) json[name] = metadata[name];
  for (const [name, value] of Object.entries(metadata)) if (name.startsWith('x-amz-meta-')) json[name] = value;
  if (md5) await writeFileAtomically(this.getResourcePath(bucket, key, 'object.md5'), md5);
  await writeFileAtomically(this.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(json, null, 2));
};

FilesystemStore.prototype.getObject = async function getObjectWithS3Ranges(bucket, key, options) {
  try {
    const metadata = await this.getMetadata(bucket, key);
    const size = Number(metadata['content-length']);
    let range;
    if (options && options.start !== undefined) {
      const end = Math.min(options.end === undefined ? Infinity : options.end, size - 1);
      range = { start: options.start, end };
      if (!(options.start >= 0) || options.start >= size || end < options.start) {
        const object = new S3Object(bucket, key, null, metadata); // -> 416 InvalidRange
        object.range = range;
        return object;
      }
    }
    const content = await new Promise((resolve, reject) => {
      const stream = fs
        .createReadStream(this.getResourcePath(bucket, key, 'object'), range || {})
        .on('error', reject)
        .on('open', () => resolve(stream));
    });
    const object = new S3Object(bucket, key, content, metadata);
    if (range) object.range = range;
    return object;
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
};

FilesystemStore.prototype.putContent = function putContentAtomically(objectPath, content) {
  // The temporary name does not end in "._S3rver_object", so listings skip it.
  const temp = tempName(objectPath);
  return new Promise((resolve, reject) => {
    const md5 = crypto.createHash('md5');
    let size = 0;
    pipeline(
      Buffer.isBuffer(content) ? Readable.from([content]) : content,
      new Transform({
        transform(chunk, encoding, callback) {
          md5.update(chunk, encoding);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      fs.createWriteStream(temp),
      (err) => {
        if (err) return fs.unlink(temp, () => reject(err));
        fs.rename(temp, objectPath, (err2) => (err2 ? reject(err2) : resolve([size, md5.digest('hex')])));
      }
    );
  });
};

const args = process.argv.slice(2);
const [dir, port, key, secret] = args.splice(0, 4);
let tls = {};
const tlsAt = args.indexOf('--tls');
if (tlsAt >= 0) {
  const [, keyFile, certFile] = args.splice(tlsAt, 3);
  tls = { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) };
}
const buckets = args;

AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(key, secret);

const s3 = new S3rver({
  address: '127.0.0.1',
  port: +port,
  directory: dir,
  silent: !process.env.S3_LOG,
  serviceEndpoint: 'localhost',
  configureBuckets: buckets.map((name) => ({ name })),
  ...tls,
});

s3.middleware.unshift(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.body.startsWith('<?xml')) ctx.body = ctx.body.replace(/&amp;/g, '&');
});

s3.middleware.unshift(async (ctx, next) => {
  if (ctx.get('authorization') || 'X-Amz-Algorithm' in ctx.query || 'Signature' in ctx.query) return next();
  ctx.status = 403;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
});

let closing = false;
function stop() {
  if (closing) return;
  closing = true;
  s3.close().then(
    () => process.exit(0),
    () => process.exit(0)
  );
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

s3.run().then(
  ({ address, port }) => console.log(`listening ${address}:${port}`),
  (err) => {
    console.error(`s3server: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  }
);
