// The S3 server for BACKEND=s3 benchmarks: npm s3rver@3.7.1 on loopback,
// over HTTPS with a self-signed certificate.
//   NODE_PATH=<dir>/node_modules node s3rver_bench.js DIR PORT KEY.pem CERT.pem BUCKET...
// Not the signature-verifying @20minutes fork the tests use: that fork
// rejects the signature of restic's GetBucketLocation request. HTTPS because
// s3rver 3.7.1 does not decode the aws-chunked bodies restic (minio-go)
// sends over plain HTTP. Credentials: S3RVER/S3RVER.
// Prints "listening ADDRESS:PORT"; exits when stdin closes. A line "stats N"
// on stdin prints "stats N {"received": R, "sent": S, "requests": Q,
// "connections": C}": the bytes that crossed all client connections so far
// (TLS records, i.e. what went over the wire), the HTTP requests and the TCP
// connections accepted.
'use strict';
const fs = require('node:fs');
const S3rver = require('s3rver');
const [dir, port, key, cert, ...buckets] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: +port, directory: dir, silent: true,
                            key: fs.readFileSync(key), cert: fs.readFileSync(cert),
                            configureBuckets: buckets.map((name) => ({ name })) });
const open = new Set();
let closedReceived = 0;
let closedSent = 0;
let requests = 0;
let connections = 0;
function totals() {
  let received = closedReceived;
  let sent = closedSent;
  for (const s of open) {
    received += s.bytesRead;
    sent += s.bytesWritten;
  }
  return { received, sent, requests, connections };
}
server.run().then((a) => {
  server.httpServer.on('request', () => { requests += 1; });
  server.httpServer.on('connection', (socket) => {
    connections += 1;
    open.add(socket);
    socket.on('close', () => {
      open.delete(socket);
      closedReceived += socket.bytesRead;
      closedSent += socket.bytesWritten;
    });
  });
  console.log(`listening ${a.address}:${a.port}`);
});
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  pending += text;
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, nl).trim();
    pending = pending.slice(nl + 1);
    if (line.startsWith('stats ')) console.log(`${line} ${JSON.stringify(totals())}`);
  }
});
process.stdin.on('end', () => process.exit(0));
