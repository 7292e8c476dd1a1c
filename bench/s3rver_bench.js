// The S3 server for BACKEND=s3 benchmarks: npm s3rver@3.7.1 on loopback,
// over HTTPS with a self-signed certificate.
//   NODE_PATH=<dir>/node_modules node s3rver_bench.js DIR PORT KEY.pem CERT.pem BUCKET...
// Not the signature-verifying @20minutes fork the tests use: that fork
// rejects the signature of restic's GetBucketLocation request. HTTPS because
// s3rver 3.7.1 does not decode the aws-chunked bodies restic (minio-go)
// sends over plain HTTP. Credentials: S3RVER/S3RVER.
// Prints "listening ADDRESS:PORT"; exits when stdin closes.
'use strict';
const fs = require('node:fs');
const S3rver = require('s3rver');
const [dir, port, key, cert, ...buckets] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: +port, directory: dir, silent: true,
                            key: fs.readFileSync(key), cert: fs.readFileSync(cert),
                            configureBuckets: buckets.map((name) => ({ name })) });
server.run().then((a) => console.log(`listening ${a.address}:${a.port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
