/**
 * Chain-of-custody check of one case, against any endpoint (AWS, or the emulator): reads the case
 * manifest, re-reads every object artifact at the version the manifest names, recomputes its SHA-256
 * on the stream (never buffering a memory image whole) and compares it, its size and S3's own checksum
 * with the manifest; for snapshot artifacts, looks the evidence snapshot up in the forensic account.
 * Read-only: it needs s3:GetObject on `cases/` (and ec2:DescribeSnapshots for snapshots), nothing else.
 */
import { createHash } from "crypto";
import { Readable } from "stream";
import { DescribeSnapshotsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { errorText } from "../shared/aws";
import { Artifact, CASES_PREFIX } from "../shared/types";

export type ArtifactVerdict = "verified" | "mismatch" | "missing" | "no-digest" | "snapshot-ok" | "snapshot-missing" | "snapshot-not-evidenced" | "unchecked";

export interface ArtifactCheck {
    kind: Artifact["kind"];
    /** Object key, or the evidence snapshot id. */
    target: string;
    versionId?: string;
    verdict: ArtifactVerdict;
    expected: { bytes?: number; sha256?: string; s3Checksum?: string };
    found?: { bytes?: number; sha256?: string; s3Checksum?: string; objectLock?: { mode?: string; retainUntil?: string }; state?: string; encrypted?: boolean; kmsKeyId?: string };
    problems: string[];
}

export interface CaseVerification {
    caseId: string;
    bucket: string;
    manifestVersionId?: string;
    manifestStatus?: string;
    checkedAt: string;
    /** Every artifact whose evidence can be checked here matched its record. */
    ok: boolean;
    artifacts: ArtifactCheck[];
    /** The manifest itself could not be read or parsed. */
    error?: string;
}

export interface VerifyDeps {
    s3: S3Client;
    bucket: string;
    /** EC2 of the forensic account in the evidence region: snapshot artifacts are checked when given. */
    ec2?: EC2Client;
}

async function digest(body: Readable): Promise<{ sha256: string; bytes: number }> {
    const hash = createHash("sha256");
    let bytes = 0;
    for await (const chunk of body) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
    }
    return { sha256: hash.digest("hex"), bytes };
}

async function checkObject(a: Artifact, deps: VerifyDeps): Promise<ArtifactCheck> {
    const key = a.key ?? "";
    const check: ArtifactCheck = {
        kind: a.kind, target: key, versionId: a.versionId, verdict: "verified",
        expected: { bytes: a.bytes, sha256: a.sha256, s3Checksum: a.s3Checksum }, problems: [],
    };
    if (!a.sha256) {
        return { ...check, verdict: "no-digest", problems: ["the manifest records no SHA-256 for this object"] };
    }
    try {
        const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: a.versionId, ChecksumMode: "ENABLED" }));
        const body = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: a.versionId }));
        const found = await digest(body.Body as Readable);
        check.found = {
            ...found,
            s3Checksum: head.ChecksumSHA256,
            objectLock: head.ObjectLockMode ? { mode: head.ObjectLockMode, retainUntil: head.ObjectLockRetainUntilDate?.toISOString() } : undefined,
        };
        if (found.sha256 !== a.sha256) {
            check.problems.push(`SHA-256 ${found.sha256} differs from the manifest's ${a.sha256}`);
        }
        if (a.bytes !== undefined && found.bytes !== a.bytes) {
            check.problems.push(`${found.bytes} bytes, the manifest says ${a.bytes}`);
        }
        if (a.s3Checksum && head.ChecksumSHA256 && head.ChecksumSHA256 !== a.s3Checksum) {
            check.problems.push(`S3 checksum ${head.ChecksumSHA256} differs from the manifest's ${a.s3Checksum}`);
        }
        return { ...check, verdict: check.problems.length === 0 ? "verified" : "mismatch" };
    } catch (err) {
        return { ...check, verdict: "missing", problems: [errorText(err)] };
    }
}

async function checkSnapshot(a: Artifact, deps: VerifyDeps, caseId: string): Promise<ArtifactCheck> {
    const d = (a.detail ?? {}) as { evidenceSnapshotId?: string; evidenceKmsKeyId?: string; error?: string };
    const check: ArtifactCheck = { kind: a.kind, target: d.evidenceSnapshotId ?? "", verdict: "unchecked", expected: {}, problems: [] };
    if (!d.evidenceSnapshotId) {
        return { ...check, verdict: "snapshot-not-evidenced", problems: [d.error ?? "no evidence snapshot was recorded"] };
    }
    if (!deps.ec2) {
        return check;
    }
    try {
        const out = await deps.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [d.evidenceSnapshotId] }));
        const snap = out.Snapshots?.[0];
        if (!snap) {
            return { ...check, verdict: "snapshot-missing", problems: ["not found in the forensic account"] };
        }
        check.found = { state: snap.State, encrypted: snap.Encrypted, kmsKeyId: snap.KmsKeyId, bytes: snap.VolumeSize };
        if (snap.State !== "completed") {
            check.problems.push(`state ${snap.State}`);
        }
        if (!snap.Encrypted) {
            check.problems.push("not encrypted");
        }
        if (d.evidenceKmsKeyId && snap.KmsKeyId && !sameKey(snap.KmsKeyId, d.evidenceKmsKeyId)) {
            check.problems.push(`encrypted under ${snap.KmsKeyId}, the manifest says ${d.evidenceKmsKeyId}`);
        }
        const tagged = snap.Tags?.find((t) => t.Key === "ir-forensics:case")?.Value;
        if (tagged !== caseId) {
            check.problems.push(`tagged with case ${tagged ?? "none"}`);
        }
        return { ...check, verdict: check.problems.length === 0 ? "snapshot-ok" : "mismatch" };
    } catch (err) {
        return { ...check, verdict: "snapshot-missing", problems: [errorText(err)] };
    }
}

/** Key ids and ARNs of the same key compare equal. */
function sameKey(a: string, b: string): boolean {
    const id = (k: string) => k.split("/").pop();
    return a === b || id(a) === id(b);
}

/** Verifies every artifact of case `caseId` against its manifest (latest version). */
export async function verifyCase(caseId: string, deps: VerifyDeps): Promise<CaseVerification> {
    const result: CaseVerification = { caseId, bucket: deps.bucket, checkedAt: new Date().toISOString(), ok: false, artifacts: [] };
    let manifest: { status?: string; artifacts?: Artifact[] };
    try {
        const out = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: `${CASES_PREFIX}${caseId}/manifest.json` }));
        result.manifestVersionId = out.VersionId;
        manifest = JSON.parse(await out.Body!.transformToString());
    } catch (err) {
        return { ...result, error: `manifest: ${errorText(err)}` };
    }
    result.manifestStatus = manifest.status;
    for (const a of manifest.artifacts ?? []) {
        result.artifacts.push(a.kind === "disk-snapshot" ? await checkSnapshot(a, deps, caseId) : a.key ? await checkObject(a, deps) : {
            kind: a.kind, target: "", verdict: "unchecked", expected: {}, problems: ["no object key"],
        });
    }
    // A snapshot that never became evidence is a recorded acquisition failure, not a custody break.
    result.ok = result.artifacts.every((c) => ["verified", "snapshot-ok", "snapshot-not-evidenced", "unchecked"].includes(c.verdict))
        && result.artifacts.some((c) => c.verdict === "verified");
    return result;
}
