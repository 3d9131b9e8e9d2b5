/**
 * The chain-of-custody check (functions/acquisition/verify.ts and `npm run verify`) against moto: an intact case
 * verifies; a changed digest, a lost version or a mislabelled snapshot does not; a later overwrite of an
 * evidence key does not touch the version the manifest names.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as path from "path";
import { CreateSnapshotCommand, CreateVolumeCommand } from "@aws-sdk/client-ec2";
import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { AccountClients, DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import { PROJECT_ROOT } from "../../emulator/paths";
import { verifyCase } from "../../functions/acquisition/verify";
import { Artifact } from "../../functions/shared/types";
import { FORENSIC, useMoto } from "../support/moto";

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

describe("verify: a case's artifacts against its manifest (moto)", function () {
    this.timeout(60_000);
    const moto = useMoto();
    const bucket = `irf-verify-${randomBytes(4).toString("hex")}`;
    let forensic: AccountClients;

    before(async () => {
        forensic = clientsFor(moto().endpoint, FORENSIC);
        await forensic.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        await forensic.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
    });
    after(() => Object.values(forensic ?? {}).forEach((c) => c.destroy()));

    /** Stores `body` under the case and returns its artifact record, as the engine writes it. */
    async function stored(caseId: string, name: string, body: Buffer): Promise<Artifact> {
        const key = `cases/${caseId}/${name}`;
        const out = await forensic.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ChecksumAlgorithm: "SHA256" }));
        return { kind: name.startsWith("memory") ? "memory" : "metadata", key, versionId: out.VersionId, bytes: body.length, sha256: sha256(body), producedBy: "test", at: "t" };
    }

    async function manifest(caseId: string, artifacts: Artifact[]): Promise<void> {
        await forensic.s3.send(new PutObjectCommand({
            Bucket: bucket, Key: `cases/${caseId}/manifest.json`, Body: JSON.stringify({ caseId, status: "contained", artifacts }),
        }));
    }

    async function evidenceSnapshot(caseId: string): Promise<string> {
        const volume = await forensic.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${DEFAULT_REGION}a`, Size: 8, Encrypted: true }));
        const snap = await forensic.ec2.send(new CreateSnapshotCommand({
            VolumeId: volume.VolumeId, TagSpecifications: [{ ResourceType: "snapshot", Tags: [{ Key: "ir-forensics:case", Value: caseId }] }],
        }));
        return snap.SnapshotId ?? "";
    }

    it("an intact case verifies: every object re-read at its recorded version, the evidence snapshot found and tagged", async () => {
        const caseId = "case-intact";
        const memory = await stored(caseId, "memory/i-1.lime", randomBytes(3 * 1024 * 1024));
        const metadata = await stored(caseId, "triage/instance-metadata.json", Buffer.from("{}"));
        const snapshotId = await evidenceSnapshot(caseId);
        await manifest(caseId, [metadata, memory, { kind: "disk-snapshot", producedBy: "test", at: "t", detail: { evidenceSnapshotId: snapshotId } }]);
        // A later object at the same key is a new version: the recorded one is what is checked.
        await forensic.s3.send(new PutObjectCommand({ Bucket: bucket, Key: memory.key, Body: "overwritten" }));

        const result = await verifyCase(caseId, { s3: forensic.s3, bucket, ec2: forensic.ec2 });
        assert.strictEqual(result.ok, true, JSON.stringify(result, null, 1));
        assert.deepStrictEqual(result.artifacts.map((a) => a.verdict), ["verified", "verified", "snapshot-ok"]);
        assert.strictEqual(result.artifacts[1].found?.bytes, 3 * 1024 * 1024);
        assert.strictEqual(result.manifestStatus, "contained");
    });

    it("a digest that differs, a version that is gone or a snapshot of another case fails verification, each named", async () => {
        const caseId = "case-broken";
        const memory = await stored(caseId, "memory/i-2.lime", randomBytes(1024));
        const metadata = await stored(caseId, "triage/instance-metadata.json", Buffer.from("{\"a\":1}"));
        const otherCase = await evidenceSnapshot("another-case");
        await manifest(caseId, [
            { ...metadata, sha256: sha256("something else") },
            { ...memory, versionId: "no-such-version" },
            { kind: "disk-snapshot", producedBy: "test", at: "t", detail: { evidenceSnapshotId: otherCase } },
            { kind: "disk-snapshot", producedBy: "test", at: "t", detail: { error: "evidence: AccessDenied" } },
        ]);
        const result = await verifyCase(caseId, { s3: forensic.s3, bucket, ec2: forensic.ec2 });
        assert.strictEqual(result.ok, false);
        assert.deepStrictEqual(result.artifacts.map((a) => a.verdict), ["mismatch", "missing", "mismatch", "snapshot-not-evidenced"]);
        assert.match(result.artifacts[0].problems.join(), /SHA-256 .* differs/);
        assert.match(result.artifacts[2].problems.join(), /tagged with case another-case/);
        assert.match(result.artifacts[3].problems.join(), /AccessDenied/);
    });

    it("a case without a manifest is reported, not verified", async () => {
        const result = await verifyCase("no-such-case", { s3: forensic.s3, bucket });
        assert.strictEqual(result.ok, false);
        assert.match(result.error ?? "", /^manifest: /);
    });

    it("npm run verify: exit 0 and a JSON report for an intact case, exit 2 for a broken one", async () => {
        // Asynchronously: the emulator answers from this process, which a synchronous spawn would block.
        const run = (caseId: string) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
            execFile(process.execPath, [
                "-r", "ts-node/register/transpile-only", path.join(PROJECT_ROOT, "scripts", "verify.ts"), caseId,
                "--bucket", bucket, "--endpoint", moto().endpoint, "--account", FORENSIC, "--region", DEFAULT_REGION, "--json",
            ], { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" } }, (err, stdout, stderr) => {
                resolve({ status: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr });
            });
        });
        const intact = await run("case-intact");
        assert.strictEqual(intact.status, 0, intact.stderr);
        assert.strictEqual(JSON.parse(intact.stdout).ok, true);
        const broken = await run("case-broken");
        assert.strictEqual(broken.status, 2, broken.stderr);
        assert.strictEqual(JSON.parse(broken.stdout).ok, false);
    });
});
