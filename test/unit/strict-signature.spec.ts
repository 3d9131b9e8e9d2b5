/**
 * The strict layer's authentication and S3 payload checks (emulator/strict/signature.ts), against requests
 * real clients send to a local HTTP server that captures them: AWS SDK v3 clients (S3, EC2, STS, SSM, KMS),
 * the SDK's presigner with the URLs sent by acquire-memory.sh's own http_get/http_put_part (curl and the
 * python3 fallback, cut from the script), and the module builder's own signer (build-modules.sh s3_put).
 * Each captured request is parsed as the layer parses it; well-formed ones must verify, and every rule
 * has a request AWS would refuse. No moto.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { Readable } from "stream";
import {
    DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ClientConfig, UploadPartCommand,
} from "@aws-sdk/client-s3";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { parseRequest } from "../../emulator/strict/request";
import { checkPayload, errorResponse, SigningCredential, verifySignature } from "../../emulator/strict/signature";
import { AwsRequest, Refusal } from "../../emulator/strict/types";
import { PROJECT_ROOT } from "../../emulator/paths";

const REGION = "eu-west-1";
const STATIC: SigningCredential = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
/** Session credentials as STS issues them; the token holds the characters that need encoding (+ / =). */
const SESSION: SigningCredential = {
    accessKeyId: "ASIAIOSFODNN7EXAMPLE", secretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE+session/token==", expiresAt: new Date(Date.now() + 3600_000),
};

const md5Base64 = (data: Buffer | string) => createHash("md5").update(data).digest("base64");
const sha256Base64 = (data: Buffer | string) => createHash("sha256").update(data).digest("base64");
const minutes = (n: number) => new Date(Date.now() + n * 60_000);

interface Captured {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

interface Answer {
    status: number;
    headers: Record<string, string>;
    body: string;
}

/** The minimal success the clients accept: `{}` for JSON protocols, an empty XML document otherwise, with an ETag for UploadPart. */
function success(c: Captured): Answer {
    const json = String(c.headers["content-type"] ?? "").includes("json");
    return { status: 200, headers: { "Content-Type": json ? "application/x-amz-json-1.1" : "text/xml", "ETag": "\"0123456789abcdef\"" }, body: json ? "{}" : "<R/>" };
}

/** A captured request parsed as the layer parses it, optionally altered first (a header `undefined`: removed). */
function parsed(c: Captured, change: { url?: string; headers?: Record<string, string | undefined>; body?: Buffer } = {}): AwsRequest {
    return parseRequest(c.method, change.url ?? c.url, { ...c.headers, ...change.headers }, change.body ?? c.body);
}

/** Asserts that `check` throws (or rejects with) a Refusal of this rule, code and status; returns it. */
async function refused(check: () => unknown, rule: string, code: string, status: number): Promise<Refusal> {
    try {
        await check();
    } catch (err) {
        assert.ok(err instanceof Refusal, `not a Refusal: ${String(err)}`);
        assert.deepStrictEqual({ rule: err.rule, code: err.code, status: err.status }, { rule, code, status }, err.message);
        return err;
    }
    return assert.fail(`expected a ${rule} refusal (${code})`);
}

/** Runs a command without blocking the event loop (the capturing server runs in this process). */
function run(command: string, args: string[], env: Record<string, string> = {}, input = ""): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { env: { ...process.env, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.stdin.end(input);
    });
}

/** A function of a bash script, cut from its text (acquire-memory.sh runs main when sourced). */
function shellFunction(script: string, name: string): string {
    const text = fs.readFileSync(script, "utf8");
    const start = text.indexOf(`\n${name}() {`);
    const end = text.indexOf("\n}\n", start);
    assert.ok(start >= 0 && end > start, `${name} not found in ${script}`);
    return text.slice(start + 1, end + 3);
}

const ACQUIRE = path.join(PROJECT_ROOT, "imagebuilder", "acquire-memory.sh");
const BUILD_MODULES = path.join(PROJECT_ROOT, "imagebuilder", "build-modules.sh");
const HTTP_FUNCTIONS = `${shellFunction(ACQUIRE, "http_get")}${shellFunction(ACQUIRE, "http_put_part")}`;

/** Calls acquire-memory.sh's http_get or http_put_part with HTTP=curl|python3; `preamble` may wrap curl. */
async function acquireHttp(client: "curl" | "python3", call: "http_get" | "http_put_part", args: string[], preamble = "", env: Record<string, string> = {}): Promise<string> {
    const result = await run("bash", ["-c", `${HTTP_FUNCTIONS}\nHTTP=${client}\n${preamble}\n${call} "$@"`, "irf-http", ...args], env);
    assert.strictEqual(result.status, 0, `${call} via ${client} failed: ${result.stderr}`);
    return result.stdout;
}

describe("strict layer: SigV4 authentication and S3 payload integrity", function () {
    let server: http.Server;
    let endpoint: string;
    let captured: Captured[] = [];
    let answer: (c: Captured) => Promise<Answer> | Answer = success;
    let dir: string;
    const clients: { destroy(): void }[] = [];

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "irf-strict-sig-"));
        server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const c: Captured = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks) };
                captured.push(c);
                Promise.resolve(answer(c)).then((a) => {
                    res.writeHead(a.status, { ...a.headers, "Content-Length": Buffer.byteLength(a.body) });
                    res.end(a.body);
                }, (err: unknown) => {
                    res.writeHead(500);
                    res.end(String(err));
                });
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
        endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(async () => {
        clients.forEach((c) => c.destroy());
        await new Promise<void>((resolve) => server.close(() => resolve()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    beforeEach(() => {
        captured = [];
        answer = success;
    });

    /** Builds (and remembers, to destroy) an SDK client pointed at the capturing server. */
    function client<T extends { destroy(): void }>(Client: new (config: never) => T, credentials: SigningCredential, extra: object = {}): T {
        const c = new Client({ endpoint, region: REGION, credentials, forcePathStyle: true, maxAttempts: 1, ...extra } as never);
        clients.push(c);
        return c;
    }

    const s3 = (credentials: SigningCredential = STATIC, extra: S3ClientConfig = {}) => client(S3Client, credentials, extra);

    /** The request `send` made (the last one captured). */
    async function capture(send: () => Promise<unknown>): Promise<Captured> {
        captured = [];
        await send();
        assert.ok(captured.length > 0, "nothing reached the server");
        return captured[captured.length - 1];
    }

    const uploadPart = (credentials: SigningCredential, expiresIn = 900, extra: S3ClientConfig = { requestChecksumCalculation: "WHEN_REQUIRED" }) =>
        getSignedUrl(s3(credentials, extra), new UploadPartCommand({ Bucket: "evidence", Key: "cases/c-1/i-0abc/memory.lime", UploadId: "upload-1", PartNumber: 3 }), { expiresIn });

    const getObject = (credentials: SigningCredential, expiresIn = 300) =>
        getSignedUrl(s3(credentials, { requestChecksumCalculation: "WHEN_REQUIRED" }), new GetObjectCommand({ Bucket: "modules", Key: "lime/x86_64/6.1.0-18+deb12-amd64/lime.ko" }), { expiresIn });

    /** A part file and its Content-MD5, as send_part computes it. */
    function partFile(name: string, size = 70_000): { file: string; md5: string; data: Buffer } {
        const data = Buffer.alloc(size, name);
        const file = path.join(dir, name);
        fs.writeFileSync(file, data);
        return { file, md5: md5Base64(data), data };
    }

    const putPart = (client: "curl" | "python3", file: string, url: string, md5: string, preamble = "", env: Record<string, string> = {}) =>
        acquireHttp(client, "http_put_part", [file, url, md5], preamble, env);

    describe("requests real clients send verify", () => {
        it("SDK v3 S3 calls with static and session keys: keys that need encoding, queries, checksummed bodies", async () => {
            for (const credentials of [STATIC, SESSION]) {
                const c = s3(credentials);
                const sends = [
                    () => c.send(new PutObjectCommand({ Bucket: "evidence", Key: "cases/c 1/ünïcode+plus(1)~*.txt", Body: "hello", ContentType: "text/plain" })),
                    () => c.send(new PutObjectCommand({ Bucket: "evidence", Key: "report.json", Body: "{}", ChecksumAlgorithm: "SHA256" })),
                    () => c.send(new GetObjectCommand({ Bucket: "evidence", Key: "a/b c", Range: "bytes=0-9" })),
                    () => c.send(new ListObjectsV2Command({ Bucket: "evidence", Prefix: "cases/c 1/", MaxKeys: 5, StartAfter: "x=y&z" })),
                    () => c.send(new DeleteObjectsCommand({ Bucket: "evidence", Delete: { Objects: [{ Key: "a" }, { Key: "b c" }] } })),
                ];
                for (const send of sends) {
                    const req = parsed(await capture(send));
                    await verifySignature(req, credentials);
                    assert.deepStrictEqual(checkPayload(req), req.body);
                }
            }
        });

        it("SDK v3 query (STS, EC2) and JSON (SSM, KMS) calls", async () => {
            for (const credentials of [STATIC, SESSION]) {
                const sends = [
                    () => client(STSClient, credentials).send(new GetCallerIdentityCommand({})),
                    () => client(EC2Client, credentials).send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:irf:case", Values: ["c 1", "c+2"] }] })),
                    () => client(SSMClient, credentials).send(new GetParameterCommand({ Name: "/irf/config", WithDecryption: true })),
                    () => client(KMSClient, credentials).send(new EncryptCommand({ KeyId: "alias/irf-evidence", Plaintext: Buffer.from("secret") })),
                ];
                for (const send of sends) {
                    await verifySignature(parsed(await capture(send)), credentials);
                }
            }
        });

        it("the SDK signs every x-amz-* header it sends (and host, content-type, content-length, amz-sdk-*)", async () => {
            const req = parsed(await capture(() => s3(SESSION).send(new PutObjectCommand({ Bucket: "evidence", Key: "k", Body: "x" }))));
            const amz = Object.keys(req.headers).filter((h) => h.startsWith("x-amz-"));
            assert.deepStrictEqual(amz.filter((h) => !req.signature?.signedHeaders.includes(h)), []);
            for (const h of ["host", "content-type", "content-length", "amz-sdk-invocation-id", "amz-sdk-request", "x-amz-user-agent"]) {
                assert.ok(req.signature?.signedHeaders.includes(h), h);
            }
            assert.ok(!req.signature?.signedHeaders.includes("user-agent"));
        });

        it("a streamed PutObject body (Readable) goes aws-chunked with an unsigned trailer, decoded to the payload", async () => {
            for (const ChecksumAlgorithm of [undefined, "CRC32C", "SHA256"] as const) {
                const body = Readable.from([Buffer.from("hello "), Buffer.from("world")]);
                const c = await capture(() => s3(SESSION).send(new PutObjectCommand({ Bucket: "evidence", Key: "stream", Body: body, ContentLength: 11, ChecksumAlgorithm })));
                const req = parsed(c);
                assert.strictEqual(req.headers["content-encoding"], "aws-chunked");
                assert.strictEqual(req.headers["x-amz-content-sha256"], "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
                assert.strictEqual(req.headers["x-amz-decoded-content-length"], "11");
                assert.strictEqual(req.headers["x-amz-trailer"], `x-amz-checksum-${(ChecksumAlgorithm ?? "CRC32").toLowerCase()}`);
                assert.match(c.body.toString("latin1"), /^6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-[a-z0-9]+:[A-Za-z0-9+/=]+\r\n\r\n$/);
                await verifySignature(req, SESSION);
                assert.strictEqual(checkPayload(req).toString(), "hello world");
            }
        });

        it("presigned GetObject URLs fetched by acquire-memory.sh's http_get (curl and python3)", async () => {
            const url = await getObject(SESSION);
            for (const http of ["curl", "python3"] as const) {
                const req = parsed(await capture(() => acquireHttp(http, "http_get", [url, path.join(dir, "out")])));
                assert.strictEqual(req.signature?.kind, "presigned");
                await verifySignature(req, SESSION);
                checkPayload(req);
            }
        });

        it("presigned UploadPart URLs sent by http_put_part with Content-MD5 (curl and python3)", async () => {
            const url = await uploadPart(SESSION);
            const part = partFile("part-ok");
            for (const http of ["curl", "python3"] as const) {
                const req = parsed(await capture(() => putPart(http, part.file, url, part.md5)));
                assert.strictEqual(req.operation, "UploadPart");
                assert.strictEqual(req.headers["content-md5"], part.md5);
                await verifySignature(req, SESSION);
                assert.deepStrictEqual(checkPayload(req), part.data);
            }
        });

        it("build-modules.sh's own signer (s3_put) signs as AWS verifies, with and without a session token", async () => {
            const part = partFile("lime.ko", 4096);
            for (const credentials of [STATIC, SESSION]) {
                const c = await capture(() => run("bash", ["-c", "source \"$1\"; s3_put \"$2\" \"$3\"", "irf-build", BUILD_MODULES, part.file, "lime/x86_64/6.1.0-18+deb12-amd64/lime.ko"], {
                    IRF_S3_ENDPOINT: endpoint, IRF_BUCKET: "modules", IRF_BUCKET_REGION: REGION,
                    AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SESSION_TOKEN: credentials.sessionToken ?? "",
                }).then((r) => assert.strictEqual(r.status, 0, r.stderr)));
                const req = parsed(c);
                assert.strictEqual(req.rawPath, "/modules/lime/x86_64/6.1.0-18%2Bdeb12-amd64/lime.ko");
                await verifySignature(req, credentials);
                assert.deepStrictEqual(checkPayload(req), part.data);
            }
        });

        it("a signed chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): the S3 User Guide's example verifies, a changed chunk does not", async () => {
            // "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks", Example: PUT Object.
            const chunkSignatures = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"];
            const body = (second: Buffer) => Buffer.concat([
                Buffer.from(`10000;chunk-signature=${chunkSignatures[0]}\r\n`), Buffer.alloc(65536, "a"),
                Buffer.from(`\r\n400;chunk-signature=${chunkSignatures[1]}\r\n`), second, Buffer.from(`\r\n0;chunk-signature=${chunkSignatures[2]}\r\n\r\n`),
            ]);
            const example: Captured = {
                method: "PUT", url: "/examplebucket/chunkObject.txt", body: body(Buffer.alloc(1024, "a")),
                headers: {
                    "host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z", "x-amz-storage-class": "REDUCED_REDUNDANCY",
                    "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;"
                        + "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
                        + "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
                    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked",
                    "x-amz-decoded-content-length": "66560", "content-length": "66824",
                },
            };
            const at = new Date("2013-05-24T00:05:00Z");
            const req = parsed(example);
            await verifySignature(req, STATIC, at);
            assert.strictEqual(checkPayload(req).length, 66560);
            await refused(() => verifySignature(parsed(example, { body: body(Buffer.alloc(1024, "b")) }), STATIC, at), "signature", "SignatureDoesNotMatch", 403);
        });
    });

    describe("requests AWS refuses, by rule", () => {
        it("signature: a tampered signature, header, query or body", async () => {
            const put = await capture(() => s3().send(new PutObjectCommand({ Bucket: "evidence", Key: "k", Body: "hello", ContentType: "text/plain" })));
            const auth = String(put.headers.authorization);
            const flipped = auth.replace(/Signature=(.)/, (_m, ch: string) => `Signature=${ch === "0" ? "1" : "0"}`);
            await refused(() => verifySignature(parsed(put, { headers: { authorization: flipped } }), STATIC), "signature", "SignatureDoesNotMatch", 403);
            await refused(() => verifySignature(parsed(put, { headers: { "content-type": "text/html" } }), STATIC), "signature", "SignatureDoesNotMatch", 403);
            await refused(() => verifySignature(parsed(put, { url: put.url.replace("/k?", "/k2?") }), STATIC), "signature", "SignatureDoesNotMatch", 403);
            await refused(() => verifySignature(parsed(put), { ...STATIC, secretAccessKey: "another secret" }), "signature", "SignatureDoesNotMatch", 403);

            const sts = await capture(() => client(STSClient, STATIC).send(new GetCallerIdentityCommand({})));
            await refused(() => verifySignature(parsed(sts, { body: Buffer.from("Action=GetCallerIdentity&Version=2011-06-16") }), STATIC), "signature", "SignatureDoesNotMatch", 403);
            const ec2 = await capture(() => client(EC2Client, STATIC).send(new DescribeInstancesCommand({ InstanceIds: ["i-0abc"] })));
            await refused(() => verifySignature(parsed(ec2, { body: Buffer.from(ec2.body.toString().replace("i-0abc", "i-0def")) }), STATIC), "signature", "AuthFailure", 401);
            const ssm = await capture(() => client(SSMClient, STATIC).send(new GetParameterCommand({ Name: "/irf/a" })));
            await refused(() => verifySignature(parsed(ssm, { body: Buffer.from("{\"Name\":\"/irf/b\"}") }), STATIC), "signature", "InvalidSignatureException", 400);

            const url = new URL(await getObject(SESSION));
            const presigned = await capture(() => acquireHttp("curl", "http_get", [url.toString().replace("lime.ko", "avml"), path.join(dir, "o")]));
            await refused(() => verifySignature(parsed(presigned), SESSION), "signature", "SignatureDoesNotMatch", 403);
        });

        it("unknown-key: S3 InvalidAccessKeyId, EC2 AuthFailure, query InvalidClientTokenId, JSON UnrecognizedClientException", async () => {
            const cases: [() => Promise<unknown>, string, number][] = [
                [() => s3().send(new GetObjectCommand({ Bucket: "b", Key: "k" })), "InvalidAccessKeyId", 403],
                [() => client(EC2Client, STATIC).send(new DescribeInstancesCommand({})), "AuthFailure", 401],
                [() => client(STSClient, STATIC).send(new GetCallerIdentityCommand({})), "InvalidClientTokenId", 403],
                [() => client(SSMClient, STATIC).send(new GetParameterCommand({ Name: "x" })), "UnrecognizedClientException", 400],
            ];
            for (const [send, code, status] of cases) {
                await refused(async () => verifySignature(parsed(await capture(send)), undefined), "unknown-key", code, status);
            }
        });

        it("clock-skew: header signatures more than 15 minutes from the server's clock", async () => {
            const put = parsed(await capture(() => s3().send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" }))));
            await verifySignature(put, STATIC, minutes(14));
            await refused(() => verifySignature(put, STATIC, minutes(16)), "clock-skew", "RequestTimeTooSkewed", 403);
            await refused(() => verifySignature(put, STATIC, minutes(-16)), "clock-skew", "RequestTimeTooSkewed", 403);
            const ec2 = parsed(await capture(() => client(EC2Client, STATIC).send(new DescribeInstancesCommand({}))));
            const expired = await refused(() => verifySignature(ec2, STATIC, minutes(16)), "clock-skew", "AuthFailure", 401);
            assert.match(expired.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
            const sts = parsed(await capture(() => client(STSClient, STATIC).send(new GetCallerIdentityCommand({}))));
            await refused(() => verifySignature(sts, STATIC, minutes(16)), "clock-skew", "SignatureDoesNotMatch", 403);
            const ssm = parsed(await capture(() => client(SSMClient, STATIC).send(new GetParameterCommand({ Name: "x" }))));
            const early = await refused(() => verifySignature(ssm, STATIC, minutes(-16)), "clock-skew", "InvalidSignatureException", 400);
            assert.match(early.message, /^Signature not yet current: /);
        });

        it("invalid-token: a session token that is not the session's, or a token sent with long-term keys", async () => {
            const wrong = { ...SESSION, sessionToken: "another-token" };
            const put = parsed(await capture(() => s3(SESSION).send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" }))));
            await refused(() => verifySignature(put, wrong), "invalid-token", "InvalidToken", 400);
            await refused(() => verifySignature(put, { ...SESSION, sessionToken: undefined }), "invalid-token", "InvalidToken", 400);
            const sts = parsed(await capture(() => client(STSClient, SESSION).send(new GetCallerIdentityCommand({}))));
            await refused(() => verifySignature(sts, wrong), "invalid-token", "InvalidClientTokenId", 403);
            const ec2 = parsed(await capture(() => client(EC2Client, SESSION).send(new DescribeInstancesCommand({}))));
            await refused(() => verifySignature(ec2, wrong), "invalid-token", "AuthFailure", 401);
            const ssm = parsed(await capture(() => client(SSMClient, STATIC).send(new GetParameterCommand({ Name: "x" }))));
            await refused(() => verifySignature(ssm, wrong), "invalid-token", "UnrecognizedClientException", 400);
            const url = await getObject(SESSION);
            const presigned = parsed(await capture(() => acquireHttp("curl", "http_get", [url, path.join(dir, "o")])));
            await refused(() => verifySignature(presigned, wrong), "invalid-token", "InvalidToken", 400);
        });

        it("expired-session: credentials past their expiry, presigned URLs included whatever X-Amz-Expires says", async () => {
            const ended = { ...SESSION, expiresAt: new Date(Date.now() - 1000) };
            const cases: [() => Promise<unknown>, string, number][] = [
                [() => s3(SESSION).send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" })), "ExpiredToken", 400],
                [() => client(STSClient, SESSION).send(new GetCallerIdentityCommand({})), "ExpiredToken", 403],
                [() => client(EC2Client, SESSION).send(new DescribeInstancesCommand({})), "RequestExpired", 400],
                [() => client(KMSClient, SESSION).send(new EncryptCommand({ KeyId: "k", Plaintext: Buffer.from("p") })), "ExpiredTokenException", 400],
            ];
            for (const [send, code, status] of cases) {
                await refused(async () => verifySignature(parsed(await capture(send)), ended), "expired-session", code, status);
            }
            const s3Expired = await refused(async () => verifySignature(parsed(await capture(cases[0][0])), ended), "expired-session", "ExpiredToken", 400);
            assert.strictEqual(s3Expired.message, "The provided token has expired.");

            // A URL valid for an hour, signed by a session that ends in ten minutes: it stops working with the session.
            const session = { ...SESSION, expiresAt: minutes(10) };
            const part = partFile("part-session");
            const url = await uploadPart(session, 3600);
            const req = parsed(await capture(() => putPart("curl", part.file, url, part.md5)));
            await verifySignature(req, session, minutes(9));
            await refused(() => verifySignature(req, session, minutes(11)), "expired-session", "ExpiredToken", 400);
        });

        it("presign-expired: a presigned URL used after X-Amz-Date + X-Amz-Expires", async () => {
            const url = await getObject(STATIC, 60);
            const req = parsed(await capture(() => acquireHttp("python3", "http_get", [url, path.join(dir, "o")])));
            await verifySignature(req, STATIC, new Date(Date.now() + 30_000));
            const err = await refused(() => verifySignature(req, STATIC, new Date(Date.now() + 120_000)), "presign-expired", "AccessDenied", 403);
            assert.strictEqual(err.message, "Request has expired");
        });

        it("presign-expires-too-long: X-Amz-Expires of 604801 (a week and a second)", async () => {
            const url = (await getObject(STATIC, 604800)).replace("X-Amz-Expires=604800", "X-Amz-Expires=604801");
            const req = parsed(await capture(() => acquireHttp("curl", "http_get", [url, path.join(dir, "o")])));
            const err = await refused(() => verifySignature(req, STATIC), "presign-expires-too-long", "AuthorizationQueryParametersError", 400);
            assert.strictEqual(err.message, "X-Amz-Expires must be less than a week (in seconds) that is 604800");
        });

        it("headers-not-signed: a presigned UploadPart sent with an unsigned x-amz-checksum-sha256 (aws-sdk-js-v3#3906); with Content-MD5 alone it passes", async () => {
            const url = await uploadPart(SESSION);
            const part = partFile("part-checksum");
            // acquire-memory.sh's http_put_part, its curl given one more header.
            const withChecksum = "curl() { command curl -H \"x-amz-checksum-sha256: $IRF_CHECKSUM\" \"$@\"; }";
            const req = parsed(await capture(() => putPart("curl", part.file, url, part.md5, withChecksum, { IRF_CHECKSUM: sha256Base64(part.data) })));
            const err = await refused(() => verifySignature(req, SESSION), "headers-not-signed", "AccessDenied", 403);
            assert.strictEqual(err.message, "There were headers present in the request which were not signed");
            const doc = errorResponse(req, err);
            assert.match(doc.body, /<HeadersNotSigned>x-amz-checksum-sha256<\/HeadersNotSigned>/);

            const plain = parsed(await capture(() => putPart("curl", part.file, url, part.md5)));
            await verifySignature(plain, SESSION);
            checkPayload(plain);

            // Header authentication too: an x-amz-* header added after signing.
            const put = await capture(() => s3().send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" })));
            await refused(() => verifySignature(parsed(put, { headers: { "x-amz-meta-case": "c-1" } }), STATIC), "headers-not-signed", "AccessDenied", 403);
        });

        it("content-sha256: a body that is not the one x-amz-content-sha256 names, or S3 header auth without it", async () => {
            const put = await capture(() => s3().send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "hello", ChecksumAlgorithm: "SHA256" })));
            const changed = parsed(put, { body: Buffer.from("jello") });
            await verifySignature(changed, STATIC); // the signature covers the header, not the body itself
            const err = await refused(() => checkPayload(changed), "content-sha256", "XAmzContentSHA256Mismatch", 400);
            const doc = errorResponse(changed, err);
            assert.match(doc.body, new RegExp(`<ClientComputedContentSHA256>${put.headers["x-amz-content-sha256"]}</ClientComputedContentSHA256>`));
            await refused(() => verifySignature(parsed(put, { headers: { "x-amz-content-sha256": undefined } }), STATIC), "content-sha256", "InvalidRequest", 400);
        });

        it("content-md5: http_put_part with a Content-MD5 of other bytes (BadDigest) or not an MD5 (InvalidDigest)", async () => {
            const url = await uploadPart(SESSION);
            const part = partFile("part-md5");
            for (const http of ["curl", "python3"] as const) {
                const wrong = parsed(await capture(() => putPart(http, part.file, url, md5Base64("other bytes"))));
                await verifySignature(wrong, SESSION);
                const err = await refused(() => checkPayload(wrong), "content-md5", "BadDigest", 400);
                assert.strictEqual(err.message, "The Content-MD5 you specified did not match what we received.");
                const malformed = parsed(await capture(() => putPart(http, part.file, url, "bm90IGFuIG1kNQ==")));
                await refused(() => checkPayload(malformed), "content-md5", "InvalidDigest", 400);
            }
        });

        it("checksum: a wrong checksum in an aws-chunked trailer, or a presigned URL carrying the checksum of an empty body", async () => {
            const body = Readable.from([Buffer.from("hello "), Buffer.from("world")]);
            const c = await capture(() => s3(SESSION).send(new PutObjectCommand({ Bucket: "b", Key: "stream", Body: body, ContentLength: 11 })));
            const tampered = parsed(c, { body: Buffer.from(c.body.toString("latin1").replace(/x-amz-checksum-crc32:[^\r]+/, "x-amz-checksum-crc32:AAAAAA=="), "latin1") });
            await verifySignature(tampered, SESSION); // the trailer of STREAMING-UNSIGNED-PAYLOAD-TRAILER is not signed
            const err = await refused(() => checkPayload(tampered), "checksum", "BadDigest", 400);
            assert.strictEqual(err.message, "The CRC32 you specified did not match the calculated checksum.");
            const changedChunk = parsed(c, { body: Buffer.from(c.body.toString("latin1").replace("hello", "jello"), "latin1") });
            await refused(() => checkPayload(changedChunk), "checksum", "BadDigest", 400);
            const noTrailer = parsed(c, { body: Buffer.from("6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n") });
            await refused(() => checkPayload(noTrailer), "checksum", "MalformedTrailerError", 400);

            // Without requestChecksumCalculation: "WHEN_REQUIRED" the presigner hoists the CRC32 of the empty body
            // it signed into the URL, and S3 holds every part sent to it to that checksum (why memory.ts sets it).
            const url = await uploadPart(SESSION, 900, {});
            assert.match(url, /x-amz-checksum-crc32=AAAAAA%3D%3D/);
            const part = partFile("part-crc");
            const req = parsed(await capture(() => putPart("curl", part.file, url, part.md5)));
            await verifySignature(req, SESSION);
            await refused(() => checkPayload(req), "checksum", "BadDigest", 400);
        });

        it("aws-chunked: a truncated body, or one whose decoded length is not x-amz-decoded-content-length", async () => {
            const body = Readable.from([Buffer.from("hello "), Buffer.from("world")]);
            const c = await capture(() => s3(SESSION).send(new PutObjectCommand({ Bucket: "b", Key: "stream", Body: body, ContentLength: 11 })));
            await refused(() => checkPayload(parsed(c, { body: c.body.subarray(0, 12) })), "aws-chunked", "IncompleteBody", 400);
            await refused(() => checkPayload(parsed(c, { headers: { "x-amz-decoded-content-length": "12" } })), "aws-chunked", "IncompleteBody", 400);
        });
    });

    describe("error documents, as the SDK reads them", () => {
        /** The capturing server answering as the layer does: verifySignature, then errorResponse for a refusal. */
        function strictly(credential: SigningCredential | undefined, now?: () => Date): (c: Captured) => Promise<Answer> {
            return async (c) => {
                const req = parsed(c);
                try {
                    await verifySignature(req, credential, now?.());
                    return success(c);
                } catch (err) {
                    assert.ok(err instanceof Refusal);
                    return errorResponse(req, err);
                }
            };
        }

        it("each protocol's error parses in its SDK client to the code, status and message", async () => {
            const cases: [() => Promise<unknown>, SigningCredential | undefined, string, number, RegExp][] = [
                [() => s3().send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" })), undefined, "InvalidAccessKeyId", 403, /does not exist in our records/],
                [() => s3(SESSION).send(new GetObjectCommand({ Bucket: "b", Key: "k" })), { ...SESSION, sessionToken: "x" }, "InvalidToken", 400, /malformed or otherwise invalid/],
                [() => client(EC2Client, STATIC).send(new DescribeInstancesCommand({})), undefined, "AuthFailure", 401, /not able to validate/],
                [() => client(STSClient, STATIC).send(new GetCallerIdentityCommand({})), { ...STATIC, secretAccessKey: "x" }, "SignatureDoesNotMatch", 403, /Check your AWS Secret Access Key/],
                [() => client(SSMClient, SESSION).send(new GetParameterCommand({ Name: "x" })), { ...SESSION, expiresAt: new Date(0) }, "ExpiredTokenException", 400, /expired/],
                [() => client(KMSClient, STATIC).send(new EncryptCommand({ KeyId: "k", Plaintext: Buffer.from("p") })), undefined, "UnrecognizedClientException", 400, /invalid/],
            ];
            for (const [send, credential, code, status, message] of cases) {
                answer = strictly(credential);
                await assert.rejects(send(), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
                    assert.strictEqual(err.name, code);
                    assert.strictEqual(err.$metadata?.httpStatusCode, status);
                    assert.match(err.message, message);
                    return true;
                });
            }
        });

        it("shapes: S3 <Error>, EC2 <Response><Errors>, query <ErrorResponse>, JSON __type with x-amzn-ErrorType; HEAD without a body", async () => {
            const err = { code: "SignatureDoesNotMatch", message: "a <b> & c", status: 403 };
            const put = parsed(await capture(() => s3().send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" }))));
            const s3Doc = errorResponse(put, err);
            assert.strictEqual(s3Doc.status, 403);
            assert.match(s3Doc.body, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>SignatureDoesNotMatch<\/Code><Message>a &lt;b&gt; &amp; c<\/Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE<\/AWSAccessKeyId>.*<RequestId>[0-9a-f]+<\/RequestId><HostId>.+<\/HostId><\/Error>$/);
            assert.strictEqual(s3Doc.headers["Content-Type"], "application/xml");

            answer = strictly(undefined);
            await assert.rejects(s3().send(new HeadObjectCommand({ Bucket: "b", Key: "k" })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 403);
            assert.strictEqual(errorResponse(parsed(captured[captured.length - 1]), err).body, "");
            answer = success;

            const ec2 = parsed(await capture(() => client(EC2Client, STATIC).send(new DescribeInstancesCommand({}))));
            assert.match(errorResponse(ec2, { code: "AuthFailure", message: "m", status: 401 }).body,
                /^<\?xml[^>]*>\n<Response><Errors><Error><Code>AuthFailure<\/Code><Message>m<\/Message><\/Error><\/Errors><RequestID>[0-9a-f]+<\/RequestID><\/Response>$/);
            const sts = parsed(await capture(() => client(STSClient, STATIC).send(new GetCallerIdentityCommand({}))));
            assert.match(errorResponse(sts, { code: "ExpiredToken", message: "m", status: 403 }).body,
                /^<ErrorResponse><Error><Type>Sender<\/Type><Code>ExpiredToken<\/Code><Message>m<\/Message><\/Error><RequestId>[0-9a-f]+<\/RequestId><\/ErrorResponse>$/);
            const ssm = parsed(await capture(() => client(SSMClient, STATIC).send(new GetParameterCommand({ Name: "x" }))));
            const json = errorResponse(ssm, { code: "InvalidSignatureException", message: "m", status: 400 });
            assert.deepStrictEqual(JSON.parse(json.body), { __type: "InvalidSignatureException", message: "m" });
            assert.strictEqual(json.headers["x-amzn-ErrorType"], "InvalidSignatureException");
            assert.strictEqual(json.headers["Content-Type"], "application/x-amz-json-1.1");
        });
    });
});
