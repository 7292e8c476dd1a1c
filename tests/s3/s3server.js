// A loopback S3 server for Cairn's tests: @20minutes/s3rver 5.0.0, which
// verifies SigV4 signatures, with its built-in S3RVER/S3RVER key removed and
// anonymous requests refused.
//
//   NODE_PATH=<dir>/node_modules node --openssl-legacy-provider s3server.js \
//       DIR PORT ACCESS_KEY SECRET [--tls KEY.pem CERT.pem] [BUCKET...]
//
// s3rver writes an object's file in place, so a reader racing a PUT can see
// a half-written object; real S3 replaces objects atomically, which Cairn's
// storage contract (and its conformance suite) relies on. The wrapper
// therefore patches the filesystem store to write to a temporary file and
// rename it over the object. (Metadata is still written separately: a GET
// racing an overwrite with a different size can see a mismatched length.)
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

let tempCounter = 0;
FilesystemStore.prototype.putContent = function putContentAtomically(objectPath, content) {
  // The temporary name does not end in "._S3rver_object", so listings skip it.
  const temp = `${objectPath}.cairn-tmp-${process.pid}-${++tempCounter}`;
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
