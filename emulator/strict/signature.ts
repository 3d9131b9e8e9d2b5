/**
 * Authentication and payload integrity as AWS applies them, for the strict layer (layer.ts): a request's
 * SigV4 signature (Authorization header or presigned query) is recomputed with the SDK's own signer,
 * @smithy/signature-v4, from the request as received, so that what the layer accepts is what AWS accepts;
 * S3 bodies are checked against the digests they claim (x-amz-content-sha256, Content-MD5, flexible
 * checksums, aws-chunked trailers). Refusals carry AWS's error code per protocol; errorResponse renders them.
 *
 *   await verifySignature(req, credential, now);   // throws Refusal when AWS would not authenticate it
 *   const payload = checkPayload(req);             // S3: throws Refusal on a digest mismatch
 */
import { createHash, createHmac, Hash, Hmac, randomBytes, timingSafeEqual } from "crypto";
import { crc32 } from "zlib";
import { Crc32c, Crc64Nvme } from "@aws-sdk/checksums/crc";
import { SignatureV4 } from "@smithy/signature-v4";
import { AwsRequest, Protocol, Refusal, SignatureInfo } from "./types";

export interface SigningCredential {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
    expiresAt?: Date;
}

/** How far X-Amz-Date of a header-signed request may be from the server's clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** The longest a presigned URL may live (SigV4 query authentication). */
const MAX_PRESIGN_SECONDS = 604800;

// ------------------------------------------------------------------ hashing

type KeyData = string | ArrayBuffer | ArrayBufferView;

function keyBuffer(key: KeyData): Buffer {
    if (typeof key === "string") {
        return Buffer.from(key, "utf8");
    }
    return ArrayBuffer.isView(key) ? Buffer.from(key.buffer, key.byteOffset, key.byteLength) : Buffer.from(key);
}

/** SHA-256, or HMAC-SHA256 when given a key: the Checksum constructor the SDK's signer hashes with. */
class NodeSha256 {
    private hash: Hash | Hmac;

    constructor(private readonly key?: KeyData) {
        this.hash = this.start();
    }

    update(data: Uint8Array): void {
        this.hash.update(data);
    }

    digest(): Promise<Uint8Array> {
        return Promise.resolve(new Uint8Array(this.hash.digest()));
    }

    reset(): void {
        this.hash = this.start();
    }

    private start(): Hash | Hmac {
        return this.key === undefined ? createHash("sha256") : createHmac("sha256", keyBuffer(this.key));
    }
}

const digestOf = (algorithm: string, data: Buffer | string): Buffer => createHash(algorithm).update(data).digest();
const sha256Hex = (data: Buffer | string): string => digestOf("sha256", data).toString("hex");

/** Equality that takes the same time wherever the strings differ (signatures, tokens). */
function sameSecret(a: string, b: string): boolean {
    return timingSafeEqual(digestOf("sha256", a), digestOf("sha256", b));
}

// ------------------------------------------------------------------ AWS's answers

interface Answer {
    code: string;
    status: number;
    /** "%s" is replaced by the refusal's detail. */
    message: string;
}

type Answers = Record<Protocol, Answer>;

const MISMATCH_MESSAGE = "The request signature we calculated does not match the signature you provided."
    + " Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const TOKEN_INVALID = "The security token included in the request is invalid.";
const TOKEN_EXPIRED = "The security token included in the request is expired";
const EC2_AUTH_FAILURE: Answer = { code: "AuthFailure", status: 401, message: "AWS was not able to validate the provided access credentials" };
const HEADERS_NOT_SIGNED = "There were headers present in the request which were not signed";
const EXPIRES_TOO_LONG = `X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_SECONDS}`;

/** S3's own answer; the other protocols answer as to a signature that does not verify, saying why. */
function signatureFailure(s3: Answer, message = "%s"): Answers {
    return {
        "rest-xml": s3,
        query: { code: "SignatureDoesNotMatch", status: 403, message },
        ec2: { ...EC2_AUTH_FAILURE, message },
        json: { code: "InvalidSignatureException", status: 400, message },
    };
}

/** A malformed Authorization header or presigned query: S3 names which, the others call the signature incomplete. */
function malformed(s3Code: string): Answers {
    return {
        "rest-xml": { code: s3Code, status: 400, message: "%s" },
        query: { code: "IncompleteSignature", status: 400, message: "%s" },
        ec2: { ...EC2_AUTH_FAILURE, message: "%s" },
        json: { code: "IncompleteSignatureException", status: 400, message: "%s" },
    };
}

const ANSWERS = {
    "unsigned": {
        "rest-xml": { code: "AccessDenied", status: 403, message: "Access Denied" },
        query: { code: "MissingAuthenticationToken", status: 403, message: "Request is missing Authentication Token" },
        ec2: { code: "MissingAuthenticationToken", status: 403, message: "Request is missing Authentication Token" },
        json: { code: "MissingAuthenticationTokenException", status: 403, message: "Request is missing Authentication Token" },
    },
    "unknown-key": {
        "rest-xml": { code: "InvalidAccessKeyId", status: 403, message: "The AWS Access Key Id you provided does not exist in our records." },
        query: { code: "InvalidClientTokenId", status: 403, message: TOKEN_INVALID },
        ec2: EC2_AUTH_FAILURE,
        json: { code: "UnrecognizedClientException", status: 400, message: TOKEN_INVALID },
    },
    "signature": {
        "rest-xml": {
            code: "SignatureDoesNotMatch", status: 403,
            message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        },
        query: { code: "SignatureDoesNotMatch", status: 403, message: MISMATCH_MESSAGE },
        ec2: EC2_AUTH_FAILURE,
        json: { code: "InvalidSignatureException", status: 400, message: MISMATCH_MESSAGE },
    },
    "invalid-token": {
        "rest-xml": { code: "InvalidToken", status: 400, message: "The provided token is malformed or otherwise invalid." },
        query: { code: "InvalidClientTokenId", status: 403, message: TOKEN_INVALID },
        ec2: EC2_AUTH_FAILURE,
        json: { code: "UnrecognizedClientException", status: 400, message: TOKEN_INVALID },
    },
    "expired-session": {
        "rest-xml": { code: "ExpiredToken", status: 400, message: "The provided token has expired." },
        query: { code: "ExpiredToken", status: 403, message: TOKEN_EXPIRED },
        ec2: { code: "RequestExpired", status: 400, message: "Request has expired." },
        json: { code: "ExpiredTokenException", status: 400, message: TOKEN_EXPIRED },
    },
    "clock-skew": signatureFailure({ code: "RequestTimeTooSkewed", status: 403, message: "The difference between the request time and the current time is too large." }),
    "not-yet-valid": signatureFailure({ code: "AccessDenied", status: 403, message: "Request is not valid yet" }),
    "presign-expired": signatureFailure({ code: "AccessDenied", status: 403, message: "Request has expired" }, "Request has expired"),
    "presign-expires-too-long": signatureFailure({ code: "AuthorizationQueryParametersError", status: 400, message: EXPIRES_TOO_LONG }, EXPIRES_TOO_LONG),
    "headers-not-signed": signatureFailure({ code: "AccessDenied", status: 403, message: HEADERS_NOT_SIGNED }, HEADERS_NOT_SIGNED),
    "malformed-header": malformed("AuthorizationHeaderMalformed"),
    "malformed-query": malformed("AuthorizationQueryParametersError"),
} satisfies Record<string, Answers>;

/** The Refusal AWS answers for `answer` in the request's protocol, counted under `rule`. */
function authRefusal(req: AwsRequest, answer: keyof typeof ANSWERS, rule: string = answer, detail = ""): Refusal {
    const a = ANSWERS[answer][req.protocol];
    return new Refusal(rule, a.code, a.message.replace("%s", detail), a.status);
}

// ------------------------------------------------------------------ authentication

/** 20261202T101500Z as a Date; undefined when not in that (ISO 8601 basic) form. */
function parseAmzDate(text: string): Date | undefined {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) {
        return undefined;
    }
    const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    return formatAmzDate(date) === text ? date : undefined;
}

const formatAmzDate = (date: Date): string => date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");

const QUERY_PARAMETERS_REQUIRED = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential,"
    + " X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

/** What AWS checks of the signature's parameters before it looks the key up; returns X-Amz-Date. */
function checkParameters(req: AwsRequest, sig: SignatureInfo): Date {
    const presigned = sig.kind === "presigned";
    const answer = presigned ? "malformed-query" : "malformed-header";
    if (!sig.accessKeyId || !sig.scopeDate || !sig.region || !sig.service || !sig.signature || sig.signedHeaders.length === 0
        || (presigned && sig.expiresSeconds === undefined)) {
        throw authRefusal(req, answer, "malformed-auth", presigned ? QUERY_PARAMETERS_REQUIRED
            : "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.");
    }
    const signedAt = parseAmzDate(sig.amzDate);
    if (!signedAt) {
        throw authRefusal(req, answer, "malformed-auth", presigned ? "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            : "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    if (!sig.signedHeaders.includes("host")) {
        throw authRefusal(req, answer, "headers-not-signed", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }
    if (presigned) {
        checkExpires(req, sig.expiresSeconds as number);
    }
    return signedAt;
}

function checkExpires(req: AwsRequest, seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0) {
        throw authRefusal(req, "malformed-query", "malformed-auth", "X-Amz-Expires should be a number");
    }
    if (seconds > MAX_PRESIGN_SECONDS) {
        throw authRefusal(req, "presign-expires-too-long");
    }
}

/** Session credentials: the token sent must be the session's, and the session must not have ended. */
function checkSession(req: AwsRequest, sig: SignatureInfo, credential: SigningCredential, now: Date): void {
    if (!sameSecret(sig.securityToken ?? "", credential.sessionToken ?? "")) {
        throw authRefusal(req, "invalid-token");
    }
    if (credential.expiresAt && now.getTime() >= credential.expiresAt.getTime()) {
        throw authRefusal(req, "expired-session");
    }
}

/** Header signatures hold for 15 minutes either side of X-Amz-Date; presigned URLs from X-Amz-Date for X-Amz-Expires. */
function checkTime(req: AwsRequest, sig: SignatureInfo, signedAt: Date, now: Date): void {
    const ahead = signedAt.getTime() - now.getTime();
    const at = (offset: number) => formatAmzDate(new Date(now.getTime() + offset));
    if (ahead > MAX_SKEW_MS) {
        const detail = `Signature not yet current: ${sig.amzDate} is still later than ${at(MAX_SKEW_MS)} (${at(0)} + 15 min.)`;
        throw authRefusal(req, sig.kind === "header" ? "clock-skew" : "not-yet-valid", "clock-skew", detail);
    }
    if (sig.kind === "header" && -ahead > MAX_SKEW_MS) {
        throw authRefusal(req, "clock-skew", "clock-skew", `Signature expired: ${sig.amzDate} is now earlier than ${at(-MAX_SKEW_MS)} (${at(0)} - 15 min.)`);
    }
    const expiresAt = signedAt.getTime() + (sig.expiresSeconds ?? 0) * 1000;
    if (sig.kind === "presigned" && now.getTime() > expiresAt) {
        throw authRefusal(req, "presign-expired");
    }
}

/** The request's x-amz-* headers its signature does not cover (sorted). */
function unsignedAmzHeaders(req: AwsRequest): string[] {
    const signed = new Set(req.signature?.signedHeaders ?? []);
    return Object.keys(req.headers).filter((name) => name.startsWith("x-amz-") && !signed.has(name)).sort();
}

/** S3 refuses x-amz-* headers that are not signed (a presigned UploadPart sent with a checksum header, aws-sdk-js-v3#3906). */
function checkHeadersSigned(req: AwsRequest): void {
    if (req.service === "s3" && unsignedAmzHeaders(req).length > 0) {
        throw authRefusal(req, "headers-not-signed");
    }
}

/**
 * The payload hash AWS signs: S3 takes x-amz-content-sha256 as given (required with header auth); the other
 * services hash the body, so a signed x-amz-content-sha256 that is not the body's hash cannot verify.
 */
function checkPayloadHashHeader(req: AwsRequest, sig: SignatureInfo): void {
    const claimed = req.headers["x-amz-content-sha256"];
    if (sig.service === "s3") {
        if (sig.kind === "header" && claimed === undefined) {
            throw new Refusal("content-sha256", "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400);
        }
    } else if (claimed !== undefined && sig.signedHeaders.includes("x-amz-content-sha256") && claimed !== sha256Hex(req.body)) {
        throw authRefusal(req, "signature");
    }
}

/** Query parameters SigV4 query authentication adds (presign adds them again). */
const PRESIGN_PARAMETERS = new Set(["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"]);

type SignableRequest = Parameters<SignatureV4["presign"]>[0];

function queryRecord(pairs: [string, string][]): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of pairs) {
        const prior = out[name];
        out[name] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
    }
    return out;
}

/** The request as its sender signed it: the raw path, the query, and only the headers SignedHeaders names. */
function signableRequest(req: AwsRequest, sig: SignatureInfo): SignableRequest {
    const [, hostname = "", port] = /^(.*?)(?::(\d+))?$/.exec(req.headers.host ?? "") ?? [];
    const headers: Record<string, string> = {};
    for (const name of sig.signedHeaders) {
        if (req.headers[name] !== undefined) {
            headers[name] = req.headers[name];
        }
    }
    const query = sig.kind === "presigned" ? req.query.filter(([name]) => !PRESIGN_PARAMETERS.has(name)) : req.query;
    return {
        method: req.method, protocol: "http:", hostname, ...(port ? { port: Number(port) } : {}),
        path: req.rawPath || "/", query: queryRecord(query), headers, body: req.body,
    };
}

/** The SDK's signer with the secret of the request's key; the token only where the sender signed one. */
function signerFor(sig: SignatureInfo, credential: SigningCredential): SignatureV4 {
    const signsToken = sig.kind === "presigned" || sig.signedHeaders.includes("x-amz-security-token");
    const sessionToken = signsToken ? sig.securityToken : undefined;
    return new SignatureV4({
        service: sig.service, region: sig.region, sha256: NodeSha256,
        // S3 signs the path as sent; every other service signs it normalized and encoded once more.
        uriEscapePath: sig.service !== "s3",
        applyChecksum: false,
        credentials: { accessKeyId: sig.accessKeyId, secretAccessKey: credential.secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) },
    });
}

/** The signature AWS computes for the request. */
async function expectedSignature(req: AwsRequest, sig: SignatureInfo, signer: SignatureV4, signingDate: Date): Promise<string> {
    const request = signableRequest(req, sig);
    const options = { signingDate, signingRegion: sig.region, signingService: sig.service, signableHeaders: new Set(sig.signedHeaders) };
    if (sig.kind === "header") {
        const signed = await signer.sign(request, options);
        return /Signature=([0-9a-f]*)/.exec(String(signed.headers.authorization ?? ""))?.[1] ?? "";
    }
    // S3 query authentication signs UNSIGNED-PAYLOAD: the signer takes the payload hash from this header,
    // which must stay a header (not hoisted into the query) and out of the signed ones unless it was signed.
    if (sig.service === "s3" && request.headers["x-amz-content-sha256"] === undefined) {
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
    }
    const presigned = await signer.presign(request, {
        ...options, expiresIn: sig.expiresSeconds,
        unsignableHeaders: new Set(["x-amz-content-sha256"]), unhoistableHeaders: new Set(Object.keys(request.headers)),
    });
    return String(presigned.query?.["X-Amz-Signature"] ?? "");
}

/** Throws Refusal(rule, code, message, status) with AWS's answer when the request is not authentic; returns when it is. `credential` undefined: the access key is unknown. */
export async function verifySignature(req: AwsRequest, credential: SigningCredential | undefined, now: Date = new Date()): Promise<void> {
    const sig = req.signature;
    if (!sig) {
        throw authRefusal(req, "unsigned");
    }
    const signedAt = checkParameters(req, sig);
    if (!credential) {
        throw authRefusal(req, "unknown-key");
    }
    checkSession(req, sig, credential, now);
    checkTime(req, sig, signedAt, now);
    checkHeadersSigned(req);
    checkPayloadHashHeader(req, sig);
    const signer = signerFor(sig, credential);
    if (!sameSecret(await expectedSignature(req, sig, signer, signedAt), sig.signature)) {
        throw authRefusal(req, "signature");
    }
    await verifyChunkSignatures(req, sig, signer, signedAt);
    if (req.service === "s3") {
        await digestAhead(req);
    }
}

// ------------------------------------------------------------------ aws-chunked bodies

interface ChunkedBody {
    chunks: { data: Buffer; signature?: string }[];
    trailers: [string, string][];
    trailerSignature?: string;
    payload: Buffer;
}

const chunkError = () => new Refusal("aws-chunked", "IncompleteBody", "The request body terminated unexpectedly", 400);

/** One CRLF-terminated line from `pos`: the text and where the next starts. */
function readLine(body: Buffer, pos: number): { text: string; next: number } {
    const end = body.indexOf("\r\n", pos);
    if (end === -1) {
        throw chunkError();
    }
    return { text: body.toString("latin1", pos, end), next: end + 2 };
}

/** `size[;chunk-signature=sig]\r\n data\r\n` ... `0[;chunk-signature=sig]\r\n` [trailer lines] `\r\n`. */
function decodeAwsChunked(body: Buffer): ChunkedBody {
    const out: ChunkedBody = { chunks: [], trailers: [], payload: Buffer.alloc(0) };
    let pos = 0;
    for (;;) {
        const line = readLine(body, pos);
        const [size, ...extensions] = line.text.split(";");
        const signature = extensions.map((e) => /^chunk-signature=(.*)$/.exec(e.trim())?.[1]).find((s) => s !== undefined);
        if (!/^[0-9a-fA-F]{1,16}$/.test(size)) {
            throw chunkError();
        }
        const length = parseInt(size, 16);
        const end = line.next + length;
        if (length > 0 && body.toString("latin1", end, end + 2) !== "\r\n") {
            throw chunkError();
        }
        out.chunks.push({ data: body.subarray(line.next, end), ...(signature === undefined ? {} : { signature }) });
        pos = length > 0 ? end + 2 : line.next;
        if (length === 0) {
            break;
        }
    }
    readTrailers(body, pos, out);
    out.payload = Buffer.concat(out.chunks.map((c) => c.data));
    return out;
}

function readTrailers(body: Buffer, start: number, out: ChunkedBody): void {
    for (let pos = start; pos < body.length;) {
        const line = readLine(body, pos);
        if (line.text === "") {
            return;
        }
        const colon = line.text.indexOf(":");
        if (colon <= 0) {
            throw new Refusal("checksum", "MalformedTrailerError",
                "The request contained trailing data that was not well-formed or did not conform to our published schema.", 400);
        }
        const name = line.text.slice(0, colon).trim().toLowerCase();
        const value = line.text.slice(colon + 1).trim();
        if (name === "x-amz-trailer-signature") {
            out.trailerSignature = value;
        } else {
            out.trailers.push([name, value]);
        }
        pos = line.next;
    }
}

const decodedBodies = new WeakMap<Buffer, ChunkedBody>();

/** The decoded body (decoded once per request: verifySignature and checkPayload both read it). */
function chunked(body: Buffer): ChunkedBody {
    let decoded = decodedBodies.get(body);
    if (!decoded) {
        decoded = decodeAwsChunked(body);
        decodedBodies.set(body, decoded);
    }
    return decoded;
}

function isAwsChunked(req: AwsRequest): boolean {
    const encodings = (req.headers["content-encoding"] ?? "").split(",").map((e) => e.trim().toLowerCase());
    return encodings.includes("aws-chunked") || (req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
}

const EMPTY_SHA256 = sha256Hex("");

/**
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): each chunk is signed, chained from the seed signature (the
 * Authorization header's), and so is the trailer. The strings to sign are S3's; the SDK's signer signs them.
 */
async function verifyChunkSignatures(req: AwsRequest, sig: SignatureInfo, signer: SignatureV4, signingDate: Date): Promise<void> {
    const mode = req.headers["x-amz-content-sha256"] ?? "";
    if (sig.kind !== "header" || !/^STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)?$/.test(mode)) {
        return;
    }
    const body = chunked(req.body);
    const scope = `${sig.amzDate.slice(0, 8)}/${sig.region}/${sig.service}/aws4_request`;
    const options = { signingDate, signingRegion: sig.region, signingService: sig.service };
    let previous = sig.signature;
    for (const chunk of body.chunks) {
        const expected = await signer.sign(["AWS4-HMAC-SHA256-PAYLOAD", sig.amzDate, scope, previous, EMPTY_SHA256, sha256Hex(chunk.data)].join("\n"), options);
        if (!sameSecret(expected, chunk.signature ?? "")) {
            throw authRefusal(req, "signature");
        }
        previous = expected;
    }
    if (mode.endsWith("-TRAILER")) {
        const trailers = body.trailers.map(([name, value]) => `${name}:${value}\n`).join("");
        const expected = await signer.sign(["AWS4-HMAC-SHA256-TRAILER", sig.amzDate, scope, previous, sha256Hex(trailers)].join("\n"), options);
        if (!sameSecret(expected, body.trailerSignature ?? "")) {
            throw authRefusal(req, "signature");
        }
    }
}

// ------------------------------------------------------------------ payload integrity (S3)

interface ChecksumAlgorithm {
    /** As S3 names it in BadDigest. */
    label: string;
    bytes: number;
    /** Node's own digests are synchronous... */
    sync?: (payload: Buffer) => Buffer;
    /** ...the SDK's CRC32C and CRC64NVME only asynchronous: verifySignature digests with them ahead. */
    checksum?: new () => { update(data: Uint8Array): void; digest(): Promise<Uint8Array> };
}

function crc32Digest(payload: Buffer): Buffer {
    const digest = Buffer.alloc(4);
    digest.writeUInt32BE(crc32(payload) >>> 0);
    return digest;
}

const ALGORITHMS: Record<string, ChecksumAlgorithm> = {
    crc32: { label: "CRC32", bytes: 4, sync: crc32Digest },
    crc32c: { label: "CRC32C", bytes: 4, checksum: Crc32c },
    crc64nvme: { label: "CRC64NVME", bytes: 8, checksum: Crc64Nvme },
    sha1: { label: "SHA1", bytes: 20, sync: (p) => digestOf("sha1", p) },
    sha256: { label: "SHA256", bytes: 32, sync: (p) => digestOf("sha256", p) },
};

const CHECKSUM_NAME = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/;

/** Payload and trailers as S3 reads them: aws-chunked bodies decoded, their decoded length checked. */
function received(req: AwsRequest): { payload: Buffer; trailers: [string, string][] } {
    if (!isAwsChunked(req)) {
        return { payload: req.body, trailers: [] };
    }
    const body = chunked(req.body);
    const declared = req.headers["x-amz-decoded-content-length"];
    if (declared === undefined) {
        throw new Refusal("aws-chunked", "MissingContentLength", "You must provide the Content-Length HTTP header.", 411);
    }
    if (Number(declared) !== body.payload.length) {
        throw new Refusal("aws-chunked", "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", 400);
    }
    return body;
}

/**
 * The checksums a request claims for its payload: headers, the aws-chunked trailer, and (presigned URLs)
 * the query, where the SDK's presigner hoists them. CompleteMultipartUpload's checksum is the whole
 * object's, not its body's.
 */
function claimedChecksums(req: AwsRequest, trailers: [string, string][]): { algorithm: string; value: string }[] {
    if (req.operation === "CompleteMultipartUpload") {
        return [];
    }
    const query = req.signature?.kind === "presigned" ? req.query : [];
    const sources: [string, string][] = [...Object.entries(req.headers), ...query, ...trailers];
    return sources.flatMap(([name, value]) => {
        const m = CHECKSUM_NAME.exec(name.toLowerCase());
        return m ? [{ algorithm: m[1], value }] : [];
    });
}

/** Trailers that x-amz-trailer announces must be in the body. */
function checkTrailersPresent(req: AwsRequest, trailers: [string, string][]): void {
    const announced = (req.headers["x-amz-trailer"] ?? "").split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
    if (announced.some((name) => !trailers.some(([n]) => n === name))) {
        throw new Refusal("checksum", "MalformedTrailerError",
            "The request contained trailing data that was not well-formed or did not conform to our published schema.", 400);
    }
}

const aheadDigests = new WeakMap<AwsRequest, Map<string, Buffer>>();

/** Digests with the SDK's asynchronous checksums the payload's claimed CRC32C/CRC64NVME, for checkPayload to read. */
async function digestAhead(req: AwsRequest): Promise<void> {
    let body: { payload: Buffer; trailers: [string, string][] };
    try {
        body = received(req);
    } catch {
        return; // checkPayload refuses the body.
    }
    const digests = new Map<string, Buffer>();
    for (const { algorithm } of claimedChecksums(req, body.trailers)) {
        const Checksum = ALGORITHMS[algorithm].checksum;
        if (Checksum && !digests.has(algorithm)) {
            const hash = new Checksum();
            hash.update(body.payload);
            digests.set(algorithm, Buffer.from(await hash.digest()));
        }
    }
    aheadDigests.set(req, digests);
}

function payloadDigest(req: AwsRequest, algorithm: string, payload: Buffer): Buffer {
    const { sync } = ALGORITHMS[algorithm];
    const digest = sync ? sync(payload) : aheadDigests.get(req)?.get(algorithm);
    if (!digest) {
        throw new Error(`checkPayload: the ${ALGORITHMS[algorithm].label} digest is computed by verifySignature, which must run first`);
    }
    return digest;
}

function checkChecksums(req: AwsRequest, payload: Buffer, trailers: [string, string][]): void {
    checkTrailersPresent(req, trailers);
    const claims = claimedChecksums(req, trailers);
    if (new Set(claims.map((c) => c.algorithm)).size > 1) {
        throw new Refusal("checksum", "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.", 400);
    }
    for (const { algorithm, value } of claims) {
        const claimed = Buffer.from(value, "base64");
        if (claimed.length !== ALGORITHMS[algorithm].bytes || claimed.toString("base64") !== value) {
            throw new Refusal("checksum", "InvalidRequest", `Value for x-amz-checksum-${algorithm} header is invalid.`, 400);
        }
        if (!claimed.equals(payloadDigest(req, algorithm, payload))) {
            throw new Refusal("checksum", "BadDigest", `The ${ALGORITHMS[algorithm].label} you specified did not match the calculated checksum.`, 400);
        }
    }
}

const PAYLOAD_HASH_MODES = new Set(["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"]);

function checkContentSha256(req: AwsRequest): void {
    const claimed = req.headers["x-amz-content-sha256"];
    if (claimed === undefined || PAYLOAD_HASH_MODES.has(claimed)) {
        return;
    }
    if (!/^[0-9a-fA-F]{64}$/.test(claimed)) {
        throw new Refusal("content-sha256", "InvalidArgument", `x-amz-content-sha256 must be ${[...PAYLOAD_HASH_MODES].join(", ")} or a valid sha256 value.`, 400);
    }
    if (claimed.toLowerCase() !== sha256Hex(req.body)) {
        throw new Refusal("content-sha256", "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
    }
}

function checkContentMd5(req: AwsRequest, payload: Buffer): void {
    const value = req.headers["content-md5"];
    if (value === undefined) {
        return;
    }
    const claimed = Buffer.from(value.trim(), "base64");
    if (claimed.length !== 16 || claimed.toString("base64") !== value.trim()) {
        throw new Refusal("content-md5", "InvalidDigest", "The Content-MD5 you specified was invalid.", 400);
    }
    if (!claimed.equals(digestOf("md5", payload))) {
        throw new Refusal("content-md5", "BadDigest", "The Content-MD5 you specified did not match what we received.", 400);
    }
}

/** Throws Refusal when S3 would reject the body (digest mismatches); returns the decoded payload (aws-chunked decoded). */
export function checkPayload(req: AwsRequest): Buffer {
    if (req.service !== "s3") {
        return req.body;
    }
    checkContentSha256(req);
    const { payload, trailers } = received(req);
    checkContentMd5(req, payload);
    checkChecksums(req, payload, trailers);
    return payload;
}

// ------------------------------------------------------------------ error documents

const escapeXml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const element = (name: string, value: string): string => `<${name}>${escapeXml(value)}</${name}>`;
const XML_DECLARATION = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/** The elements S3 adds to some errors, recovered from the request (the layer passes only code and message). */
function s3Details(req: AwsRequest, code: string, message: string): [string, string][] {
    const sig = req.signature;
    switch (code) {
        case "InvalidAccessKeyId": return sig ? [["AWSAccessKeyId", sig.accessKeyId]] : [];
        case "SignatureDoesNotMatch": return sig ? [["AWSAccessKeyId", sig.accessKeyId], ["SignatureProvided", sig.signature]] : [];
        case "RequestTimeTooSkewed": return sig ? [["RequestTime", sig.amzDate], ["MaxAllowedSkewMilliseconds", String(MAX_SKEW_MS)]] : [];
        case "XAmzContentSHA256Mismatch": return [["ClientComputedContentSHA256", req.headers["x-amz-content-sha256"] ?? ""], ["S3ComputedContentSHA256", sha256Hex(req.body)]];
        case "AccessDenied": return message === HEADERS_NOT_SIGNED ? [["HeadersNotSigned", unsignedAmzHeaders(req).join(", ")]] : [];
        default: return [];
    }
}

function s3Error(req: AwsRequest, err: { code: string; message: string }, requestId: string): { headers: Record<string, string>; body: string } {
    const hostId = randomBytes(32).toString("base64");
    const details = s3Details(req, err.code, err.message).map(([name, value]) => element(name, value)).join("");
    const body = `${XML_DECLARATION}<Error>${element("Code", err.code)}${element("Message", err.message)}${details}`
        + `${element("RequestId", requestId)}${element("HostId", hostId)}</Error>`;
    // HEAD answers carry no body: the SDK reads the error from the status alone.
    return { headers: { "Content-Type": "application/xml", "x-amz-request-id": requestId, "x-amz-id-2": hostId }, body: req.method === "HEAD" ? "" : body };
}

/** The AWS error document for an error in the request's protocol: { status, headers, body } (S3 XML <Error>, EC2 <Response><Errors>, query-protocol <ErrorResponse>, JSON {"__type": ..., "message": ...}). */
export function errorResponse(req: AwsRequest, err: { code: string; message: string; status: number }): { status: number; headers: Record<string, string>; body: string } {
    const requestId = randomBytes(16).toString("hex");
    const error = `${element("Code", err.code)}${element("Message", err.message)}`;
    switch (req.protocol) {
        case "rest-xml":
            return { status: err.status, ...s3Error(req, err, requestId) };
        case "ec2":
            return {
                status: err.status, headers: { "Content-Type": "text/xml;charset=UTF-8" },
                body: `${XML_DECLARATION}<Response><Errors><Error>${error}</Error></Errors>${element("RequestID", requestId)}</Response>`,
            };
        case "query":
            return {
                status: err.status, headers: { "Content-Type": "text/xml" },
                body: `<ErrorResponse><Error>${element("Type", err.status >= 500 ? "Receiver" : "Sender")}${error}</Error>${element("RequestId", requestId)}</ErrorResponse>`,
            };
        default: {
            const contentType = req.headers["content-type"] ?? "";
            return {
                status: err.status,
                headers: { "Content-Type": contentType.startsWith("application/x-amz-json") ? contentType : "application/x-amz-json-1.1", "x-amzn-ErrorType": err.code },
                body: JSON.stringify({ __type: err.code, message: err.message }),
            };
        }
    }
}
