/**
 * Writing evidence objects: every object carries our SHA-256 as its S3 checksum (Object Lock requires a
 * checksum, and S3 rejects a body that changed on the way) and SSE-KMS with the evidence key.
 */
import { createHash } from "crypto";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { EngineSettings } from "../shared/settings";

/** Where an evidence object was written, and what it holds. */
export interface EvidenceRef {
    key: string;
    versionId?: string;
    /** Hex SHA-256 of the bytes written. */
    sha256: string;
    bytes: number;
    /** S3's checksum as it stored it (base64). */
    s3Checksum?: string;
}

/**
 * Writes a JSON document to the evidence bucket: SHA-256 checksum (Object Lock requires one; S3 rejects
 * a body that changed on the way) and SSE-KMS with the evidence key. Any step's JSON evidence can use it.
 */
export async function putEvidenceJson(s3: S3Client, settings: EngineSettings, key: string, document: unknown): Promise<EvidenceRef> {
    const body = Buffer.from(`${JSON.stringify(document, null, 2)}\n`, "utf8");
    const digest = createHash("sha256").update(body).digest();
    const out = await s3.send(new PutObjectCommand({
        Bucket: settings.evidenceBucket,
        Key: key,
        Body: body,
        ContentType: "application/json",
        ChecksumAlgorithm: "SHA256",
        ChecksumSHA256: digest.toString("base64"),
        ServerSideEncryption: "aws:kms",
        SSEKMSKeyId: settings.evidenceKeyArn,
    }));
    return { key, versionId: out.VersionId, sha256: digest.toString("hex"), bytes: body.length, s3Checksum: out.ChecksumSHA256 };
}
