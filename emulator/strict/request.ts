/**
 * Parses an HTTP request into what AWS needs to authenticate and authorize it: the SigV4 signature
 * (Authorization header or presigned query), the service and region of its credential scope, the wire
 * protocol, the operation and its input. Covers the protocols of every client the project uses: the
 * query protocols (EC2, IAM, STS, SNS, Auto Scaling, ELB), the JSON protocols (SSM, KMS, SQS, DynamoDB,
 * Step Functions, EventBridge, CloudTrail) and S3's REST-XML.
 */
import type { IncomingMessage } from "http";
import { AwsRequest, Protocol, SignatureInfo } from "./types";

/** A request's (or an answer's) whole body. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
}

/** Services whose API is the query protocol (form-encoded `Action=`). */
const QUERY_SERVICES = new Set(["ec2", "iam", "sts", "sns", "autoscaling", "elasticloadbalancing", "rds", "cloudformation"]);

/** Splits `a=b&c=d` keeping order and repeated names (decoded). */
export function parseQueryString(text: string): [string, string][] {
    if (!text) {
        return [];
    }
    return text.split("&").filter(Boolean).map((pair) => {
        const eq = pair.indexOf("=");
        const name = eq === -1 ? pair : pair.slice(0, eq);
        const value = eq === -1 ? "" : pair.slice(eq + 1);
        const decode = (s: string) => {
            try {
                return decodeURIComponent(s.replace(/\+/g, " "));
            } catch {
                return s;
            }
        };
        return [decode(name), decode(value)];
    });
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20261202/eu-west-1/s3/aws4_request, SignedHeaders=a;b, Signature=hex`. */
function headerSignature(authorization: string, headers: Record<string, string>): SignatureInfo | undefined {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(authorization.trim());
    if (!m) {
        return undefined;
    }
    const fields: Record<string, string> = {};
    for (const part of m[1].split(",")) {
        const eq = part.indexOf("=");
        if (eq > 0) {
            fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
        }
    }
    const [accessKeyId = "", scopeDate = "", region = "", service = ""] = (fields.Credential ?? "").split("/");
    return {
        kind: "header",
        accessKeyId, scopeDate, region, service,
        amzDate: headers["x-amz-date"] ?? "",
        signedHeaders: (fields.SignedHeaders ?? "").split(";").filter(Boolean),
        signature: fields.Signature ?? "",
        securityToken: headers["x-amz-security-token"],
    };
}

function presignedSignature(query: [string, string][]): SignatureInfo | undefined {
    const get = (name: string) => query.find(([k]) => k === name)?.[1];
    if (get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") {
        return undefined;
    }
    const [accessKeyId = "", scopeDate = "", region = "", service = ""] = (get("X-Amz-Credential") ?? "").split("/");
    const expires = get("X-Amz-Expires");
    return {
        kind: "presigned",
        accessKeyId, scopeDate, region, service,
        amzDate: get("X-Amz-Date") ?? "",
        signedHeaders: (get("X-Amz-SignedHeaders") ?? "").split(";").filter(Boolean),
        signature: get("X-Amz-Signature") ?? "",
        expiresSeconds: expires === undefined ? undefined : Number(expires),
        securityToken: get("X-Amz-Security-Token"),
    };
}

const has = (query: [string, string][], name: string) => query.some(([k]) => k === name);

/** Bucket sub-resources, in the order S3's router tries them, with the operation per method. */
const BUCKET_SUBRESOURCES: [string, Partial<Record<string, string>>][] = [
    ["policy", { PUT: "PutBucketPolicy", GET: "GetBucketPolicy", DELETE: "DeleteBucketPolicy" }],
    ["policyStatus", { GET: "GetBucketPolicyStatus" }],
    ["encryption", { PUT: "PutBucketEncryption", GET: "GetBucketEncryption", DELETE: "DeleteBucketEncryption" }],
    ["versioning", { PUT: "PutBucketVersioning", GET: "GetBucketVersioning" }],
    ["object-lock", { PUT: "PutObjectLockConfiguration", GET: "GetObjectLockConfiguration" }],
    ["publicAccessBlock", { PUT: "PutPublicAccessBlock", GET: "GetPublicAccessBlock", DELETE: "DeletePublicAccessBlock" }],
    ["ownershipControls", { PUT: "PutBucketOwnershipControls", GET: "GetBucketOwnershipControls", DELETE: "DeleteBucketOwnershipControls" }],
    ["lifecycle", { PUT: "PutBucketLifecycleConfiguration", GET: "GetBucketLifecycleConfiguration", DELETE: "DeleteBucketLifecycle" }],
    ["logging", { PUT: "PutBucketLogging", GET: "GetBucketLogging" }],
    ["tagging", { PUT: "PutBucketTagging", GET: "GetBucketTagging", DELETE: "DeleteBucketTagging" }],
    ["notification", { PUT: "PutBucketNotificationConfiguration", GET: "GetBucketNotificationConfiguration" }],
    ["acl", { PUT: "PutBucketAcl", GET: "GetBucketAcl" }],
    ["cors", { PUT: "PutBucketCors", GET: "GetBucketCors", DELETE: "DeleteBucketCors" }],
    ["location", { GET: "GetBucketLocation" }],
    ["uploads", { GET: "ListMultipartUploads" }],
    ["versions", { GET: "ListObjectVersions" }],
    ["delete", { POST: "DeleteObjects" }],
    // Configurations the project never sets: named, so that they are never mistaken for ListObjects,
    // CreateBucket or DeleteBucket (the table maps none of them: refused unless the harness sends them).
    ["website", { PUT: "PutBucketWebsite", GET: "GetBucketWebsite", DELETE: "DeleteBucketWebsite" }],
    ["replication", { PUT: "PutBucketReplication", GET: "GetBucketReplication", DELETE: "DeleteBucketReplication" }],
    ["accelerate", { PUT: "PutBucketAccelerateConfiguration", GET: "GetBucketAccelerateConfiguration" }],
    ["requestPayment", { PUT: "PutBucketRequestPayment", GET: "GetBucketRequestPayment" }],
    ["intelligent-tiering", { PUT: "PutBucketIntelligentTieringConfiguration", GET: "GetBucketIntelligentTieringConfiguration", DELETE: "DeleteBucketIntelligentTieringConfiguration" }],
    ["analytics", { PUT: "PutBucketAnalyticsConfiguration", GET: "GetBucketAnalyticsConfiguration", DELETE: "DeleteBucketAnalyticsConfiguration" }],
    ["metrics", { PUT: "PutBucketMetricsConfiguration", GET: "GetBucketMetricsConfiguration", DELETE: "DeleteBucketMetricsConfiguration" }],
    ["inventory", { PUT: "PutBucketInventoryConfiguration", GET: "GetBucketInventoryConfiguration", DELETE: "DeleteBucketInventoryConfiguration" }],
];

const OBJECT_SUBRESOURCES: [string, Partial<Record<string, string>>][] = [
    ["retention", { PUT: "PutObjectRetention", GET: "GetObjectRetention" }],
    ["legal-hold", { PUT: "PutObjectLegalHold", GET: "GetObjectLegalHold" }],
    ["tagging", { PUT: "PutObjectTagging", GET: "GetObjectTagging", DELETE: "DeleteObjectTagging" }],
    ["acl", { PUT: "PutObjectAcl", GET: "GetObjectAcl" }],
    ["attributes", { GET: "GetObjectAttributes" }],
    ["restore", { POST: "RestoreObject" }],
    ["uploads", { POST: "CreateMultipartUpload" }],
    ["torrent", { GET: "GetObjectTorrent" }],
];

/** The S3 operation of a path-style request (`/bucket/key...`). */
export function s3Operation(method: string, bucket: string, key: string, query: [string, string][], headers: Record<string, string>): string {
    if (!bucket) {
        return method === "GET" ? "ListBuckets" : "";
    }
    if (!key) {
        for (const [name, ops] of BUCKET_SUBRESOURCES) {
            if (has(query, name) && ops[method]) {
                return ops[method] as string;
            }
        }
        switch (method) {
            case "PUT": return "CreateBucket";
            case "DELETE": return "DeleteBucket";
            case "HEAD": return "HeadBucket";
            case "GET": return query.some(([k, v]) => k === "list-type" && v === "2") ? "ListObjectsV2" : "ListObjects";
            default: return "";
        }
    }
    if (has(query, "uploadId")) {
        switch (method) {
            case "PUT": return headers["x-amz-copy-source"] ? "UploadPartCopy" : "UploadPart";
            case "GET": return "ListParts";
            case "POST": return "CompleteMultipartUpload";
            case "DELETE": return "AbortMultipartUpload";
        }
    }
    for (const [name, ops] of OBJECT_SUBRESOURCES) {
        if (has(query, name) && ops[method]) {
            return ops[method] as string;
        }
    }
    switch (method) {
        case "PUT": return headers["x-amz-copy-source"] ? "CopyObject" : "PutObject";
        case "GET": return "GetObject";
        case "HEAD": return "HeadObject";
        case "DELETE": return "DeleteObject";
        default: return "";
    }
}

function safeDecode(s: string): string {
    try {
        return decodeURIComponent(s);
    } catch {
        return s;
    }
}

/** Parses one request. `headers` may come from node:http (lower-case names, arrays for repeats). */
export function parseRequest(method: string, url: string, rawHeaders: Record<string, string | string[] | undefined>, body: Buffer): AwsRequest {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(rawHeaders)) {
        if (value !== undefined) {
            headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
        }
    }
    const q = url.indexOf("?");
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = parseQueryString(q === -1 ? "" : url.slice(q + 1));
    const signature = headers.authorization ? headerSignature(headers.authorization, headers) : presignedSignature(query);
    const target = headers["x-amz-target"];
    const service = signature?.service ?? (target ? "" : "s3");
    const region = signature?.region ?? "us-east-1";
    const path = safeDecode(rawPath);

    let protocol: Protocol;
    let operation: string;
    let params: Record<string, unknown>;
    if (target) {
        protocol = "json";
        operation = target.slice(target.lastIndexOf(".") + 1);
        try {
            params = body.length > 0 ? JSON.parse(body.toString("utf8")) as Record<string, unknown> : {};
        } catch {
            params = {};
        }
    } else if (QUERY_SERVICES.has(service)) {
        protocol = service === "ec2" ? "ec2" : "query";
        const form = (headers["content-type"] ?? "").includes("x-www-form-urlencoded") ? parseQueryString(body.toString("utf8")) : [];
        params = Object.fromEntries([...query, ...form]);
        operation = String(params.Action ?? "");
    } else {
        protocol = "rest-xml";
        // Path style: /bucket/key (the key keeps its slashes).
        const parts = rawPath.replace(/^\//, "").split("/");
        const bucket = safeDecode(parts[0] ?? "");
        const key = parts.slice(1).map(safeDecode).join("/");
        operation = s3Operation(method, bucket, key, query, headers);
        params = { ...Object.fromEntries(query), Bucket: bucket, ...(key ? { Key: key } : {}) };
    }
    return { method, rawPath, path, query, headers, body, signature, service: service || "s3", region, protocol, operation, params };
}

/** Values of a query-protocol list: `prefix.1`, `prefix.2`, ... (or `prefix.1.suffix`, ...). */
export function queryList(params: Record<string, unknown>, prefix: string, suffix = ""): string[] {
    const out: string[] = [];
    for (let i = 1; ; i++) {
        const value = params[`${prefix}.${i}${suffix ? `.${suffix}` : ""}`];
        if (value === undefined) {
            return out;
        }
        out.push(String(value));
    }
}

/** `TagSpecification.N` of a query-protocol request: resource type and tags of each. */
export function tagSpecifications(params: Record<string, unknown>): { resourceType: string; tags: Record<string, string> }[] {
    const specs: { resourceType: string; tags: Record<string, string> }[] = [];
    for (let s = 1; params[`TagSpecification.${s}.ResourceType`] !== undefined; s++) {
        const tags: Record<string, string> = {};
        for (let t = 1; params[`TagSpecification.${s}.Tag.${t}.Key`] !== undefined; t++) {
            tags[String(params[`TagSpecification.${s}.Tag.${t}.Key`])] = String(params[`TagSpecification.${s}.Tag.${t}.Value`] ?? "");
        }
        specs.push({ resourceType: String(params[`TagSpecification.${s}.ResourceType`]), tags });
    }
    return specs;
}
