// Creates a blob container on a local Azurite server, for `cargo xtask ci` (xtask/src/azure.rs).
//
// Usage: node create_container.js PORT CONTAINER
//
// Azurite checks Shared Key signatures like Azure does, so the request is signed with the
// emulator's well-known development account (devstoreaccount1, a public key documented by
// Microsoft; nothing secret). Node's own crypto does the HMAC, so nothing else is installed.
// Exits 0 when the container exists afterwards (created now, or already there).
"use strict";
const crypto = require("crypto");
const http = require("http");

const ACCOUNT = "devstoreaccount1";
const KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const VERSION = "2021-08-06";

const [port, container] = process.argv.slice(2);
const date = new Date().toUTCString();
const stringToSign = [
  "PUT", "", "", "", "", "", "", "", "", "", "", "",
  `x-ms-date:${date}\nx-ms-version:${VERSION}`,
  `/${ACCOUNT}/${ACCOUNT}/${container}\nrestype:container`,
].join("\n");
const signature = crypto
  .createHmac("sha256", Buffer.from(KEY, "base64"))
  .update(stringToSign, "utf8")
  .digest("base64");
const request = http.request(
  {
    host: "127.0.0.1",
    port: Number(port),
    method: "PUT",
    path: `/${ACCOUNT}/${container}?restype=container`,
    headers: {
      "x-ms-date": date,
      "x-ms-version": VERSION,
      "Content-Length": 0,
      Authorization: `SharedKey ${ACCOUNT}:${signature}`,
    },
  },
  (response) => {
    let body = "";
    response.on("data", (chunk) => (body += chunk));
    response.on("end", () => {
      if (response.statusCode === 201 || response.statusCode === 409) {
        process.exit(0);
      }
      console.error(`creating container ${container}: HTTP ${response.statusCode} ${body}`);
      process.exit(1);
    });
  },
);
request.on("error", (error) => {
  console.error(`creating container ${container}: ${error.message}`);
  process.exit(2);
});
request.end();
