/**
 * Chain of custody against moto: the manifest lands in the forensic account's Object Lock bucket with
 * its SHA-256, under the evidence key; each write is a new locked version; closing a case decides its
 * outcome, ends the registry claim and tells the topic.
 */
import * as assert from "assert";
import { createHash, randomBytes } from "crypto";
import {
    CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectLockConfigurationCommand,
} from "@aws-sdk/client-s3";
import { caseIdFor } from "../../functions/response/cases";
import { claimInstance, getInstance, markContained } from "../../functions/response/registry";
import { buildManifest, caseOutcome, closeCase, manifestFailures, manifestKey, recordCase, writeManifest } from "../../functions/response/record";
import { ActionRecord, CaseState, InstanceRef, StepRecord } from "../../functions/shared/types";
import { AccountClients, clientsFor, DEFAULT_REGION } from "../../emulator/aws/aws-clients";
import { captureLogs, createEngine, Engine } from "../support/engine";
import { EVENT_TIME, instanceId } from "../support/events";
import { sharedEvidenceKey, shareEvidenceBucket } from "../support/evidence";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";

const AT = "2026-11-23T10:00:00.000Z";

function step(name: StepRecord["step"], status: StepRecord["status"], extra: Partial<StepRecord> = {}): StepRecord {
    return { step: name, status, startedAt: AT, endedAt: AT, actions: [], ...extra };
}

function action(name: string, outcome: ActionRecord["outcome"], extra: Partial<ActionRecord> = {}): ActionRecord {
    return { action: name, outcome, at: AT, ...extra };
}

function caseState(steps: StepRecord[] = [], extra: Partial<CaseState> = {}): CaseState {
    const instance: InstanceRef = { accountId: MEMBER, region: DEFAULT_REGION, instanceId: instanceId() };
    const caseId = caseIdFor(instance, new Date(AT));
    return {
        caseId,
        mode: "analyze",
        instance,
        trigger: { source: "tag", requested: "analyze", eventId: "ev-1", eventTime: EVENT_TIME, rawValue: "Analyze" },
        openedAt: AT,
        executionArn: `arn:aws:states:${DEFAULT_REGION}:222233334444:execution:irf-incident:${caseId}`,
        steps: [step("open", "succeeded"), ...steps],
        artifacts: [{ kind: "metadata", key: `cases/${caseId}/metadata/describe.json`, bytes: 12, sha256: "ab".repeat(32), producedBy: "triage", at: AT }],
        ...extra,
    };
}

const eni = (id: string) => ({ networkInterfaceId: id, subnetId: "subnet-1", vpcId: "vpc-1", groupIds: ["sg-1"], deviceIndex: 0, privateIps: [], ipv6Addresses: [] });

describe("case record: manifest, outcome, close", function () {
    describe("outcome and failures (no AWS)", function () {
        it("containment that succeeded, or was partial with the network cut, is contained", function () {
            assert.strictEqual(caseOutcome(caseState([step("containment", "succeeded")])), "contained");
            assert.strictEqual(caseOutcome(caseState([step("containment", "partial", { detail: { networkContained: true } })])), "contained");
        });

        it("containment that says the network was not cut, or failed, is uncontained", function () {
            assert.strictEqual(caseOutcome(caseState([step("containment", "partial", { detail: { networkContained: false } })])), "uncontained");
            assert.strictEqual(caseOutcome(caseState([step("containment", "failed")])), "uncontained");
            assert.strictEqual(caseOutcome(caseState([])), "uncontained");
        });

        it("without a verdict, every ENI of the instance must have its isolate-eni action ok (or already done)", function () {
            const facts = { state: "running", networkInterfaces: [eni("eni-a"), eni("eni-b")], volumeIds: [], tags: {} };
            const partial = (b: ActionRecord["outcome"]) => caseState([step("containment", "partial", {
                actions: [action("isolate-eni", "ok", { target: "eni-a" }), action("isolate-eni", b, { target: "eni-b" }), action("swap-profile", "failed")],
            })], { facts });
            assert.strictEqual(caseOutcome(partial("ok")), "contained");
            assert.strictEqual(caseOutcome(partial("noop")), "contained");
            assert.strictEqual(caseOutcome(partial("failed")), "uncontained");
        });

        it("triage or containment that found no instance gives instance-missing", function () {
            for (const missing of [
                step("triage", "failed", { error: "instance not found" }),
                step("triage", "failed", { detail: { instanceFound: false } }),
                step("containment", "failed", { error: "InvalidInstanceID.NotFound: The instance ID 'i-1' does not exist" }),
            ]) {
                assert.strictEqual(caseOutcome(caseState([missing])), "instance-missing", JSON.stringify(missing));
            }
            assert.strictEqual(caseOutcome(caseState([step("triage", "failed", { error: "describe failed: Throttling" })])), "uncontained");
        });

        it("the manifest lists the acquisition branches' records that containment has not folded in yet, once", function () {
            const memory = step("memory", "failed", { error: "no module for this kernel" });
            const disk = step("disk", "succeeded", { startedAt: "2026-11-23T10:00:05.000Z" });
            const manifest = buildManifest(caseState([disk], { acquisition: [memory, disk] }), AT);
            assert.deepStrictEqual(manifest.steps.map((s) => s.step), ["open", "disk", "memory"]);
            assert.deepStrictEqual(manifest.failures, [{ step: "memory", error: "no module for this kernel" }]);
            assert.strictEqual(manifest.status, "running");
        });

        it("failures flatten step errors, failed actions and a caught error no step has recorded", function () {
            const state = caseState([
                step("isolation", "partial", { actions: [action("asg-detach", "ok"), action("isolate-eni", "failed", { target: "eni-a", error: "boom" })] }),
                step("memory", "failed", { error: "SSM timed out" }),
            ], { lastError: { Error: "States.TaskFailed", Cause: "disk lambda crashed" } });
            assert.deepStrictEqual(manifestFailures(state), [
                { step: "isolation", action: "isolate-eni", target: "eni-a", error: "boom" },
                { step: "memory", error: "SSM timed out" },
                { step: "state-machine", error: "States.TaskFailed: disk lambda crashed" },
            ]);
        });
    });

    describe("against moto (evidence bucket in the forensic account, engine in the security account)", function () {
        const moto = useMoto();
        const run = randomBytes(4).toString("hex");
        const bucket = `irf-evidence-${run}`;
        let forensic: AccountClients;
        let engine: Engine;
        let keyArn: string;
        let logs: ReturnType<typeof captureLogs>;

        before("reset moto; Object Lock bucket and key in forensic; engine in security", async function () {
            await moto().reset();
            forensic = clientsFor(moto().endpoint, FORENSIC);
            await forensic.s3.send(new CreateBucketCommand({
                Bucket: bucket,
                CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
                ObjectLockEnabledForBucket: true,
            }));
            // The engine (security account) writes the manifests, as the stack's bucket policy lets it.
            await shareEvidenceBucket(forensic, bucket, [SECURITY]);
            await forensic.s3.send(new PutObjectLockConfigurationCommand({
                Bucket: bucket,
                ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 1 } } },
            }));
            keyArn = await sharedEvidenceKey(forensic, FORENSIC, [SECURITY], `evidence ${run}`);
            engine = await createEngine(moto().endpoint, run, { bucket, keyArn });
            logs = captureLogs();
        });

        after(async function () {
            logs?.restore();
            await engine?.close();
            Object.values(forensic ?? {}).forEach((c) => c.destroy());
        });

        beforeEach(async function () {
            await engine.published();
        });

        /** The manifest as investigators read it (forensic account), with S3's checksum. */
        async function readManifest(key: string, versionId?: string) {
            const out = await forensic.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, ChecksumMode: "ENABLED" }));
            const body = Buffer.from(await out.Body!.transformToByteArray());
            return { out, body, json: JSON.parse(body.toString("utf8")) };
        }

        async function claimFor(state: CaseState): Promise<void> {
            await claimInstance(engine.clients.dynamodb, engine.settings.casesTable, state.instance, { caseId: state.caseId, mode: state.mode, openedAt: state.openedAt });
        }

        it("writeManifest: the bytes, SHA-256 and S3 checksum round-trip; SSE-KMS with the evidence key; locked; the schema", async function () {
            const state = caseState([step("isolation", "partial", { actions: [action("isolate-eni", "failed", { target: "eni-a", error: "boom" })] })]);
            const ref = await writeManifest(engine.clients.s3, engine.settings, state);
            assert.strictEqual(ref.key, `cases/${state.caseId}/manifest.json`);
            assert.ok(ref.versionId, "a versioned bucket gives a version id");
            const { out, body, json } = await readManifest(ref.key);
            assert.strictEqual(body.length, ref.bytes);
            assert.strictEqual(createHash("sha256").update(body).digest("hex"), ref.sha256);
            assert.strictEqual(out.ChecksumSHA256, Buffer.from(ref.sha256, "hex").toString("base64"));
            assert.strictEqual(ref.s3Checksum, out.ChecksumSHA256);
            assert.strictEqual(out.ServerSideEncryption, "aws:kms");
            assert.strictEqual(out.SSEKMSKeyId, keyArn);
            assert.strictEqual(out.ObjectLockMode, "COMPLIANCE");
            assert.strictEqual(out.VersionId, ref.versionId);
            assert.deepStrictEqual(Object.keys(json), [
                "schemaVersion", "caseId", "mode", "instance", "trigger", "openedAt", "updatedAt", "executionArn", "status", "steps", "artifacts", "failures",
            ]);
            assert.strictEqual(json.schemaVersion, 1);
            assert.strictEqual(json.status, "running");
            assert.deepStrictEqual(json.steps, state.steps);
            assert.deepStrictEqual(json.artifacts, state.artifacts);
            assert.deepStrictEqual(json.failures, [{ step: "isolation", action: "isolate-eni", target: "eni-a", error: "boom" }]);
        });

        it("two writes are two locked versions: the first stays readable and cannot be deleted", async function () {
            const state = caseState();
            const first = await writeManifest(engine.clients.s3, engine.settings, state);
            const returned = await recordCase({ ...state, steps: [...state.steps, step("triage", "succeeded")] }, { s3: engine.clients.s3, settings: engine.settings });
            assert.strictEqual(returned.steps.length, 2, "recordCase passes the state on unchanged");
            const { Versions = [] } = await forensic.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: manifestKey(state.caseId) }));
            assert.strictEqual(Versions.length, 2);
            assert.ok(Versions.some((v) => v.VersionId === first.versionId));
            assert.strictEqual((await readManifest(first.key, first.versionId)).json.steps.length, 1);
            assert.strictEqual((await readManifest(first.key)).json.steps.length, 2);
            await assert.rejects(
                forensic.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: first.key, VersionId: first.versionId })),
                (err: Error & { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 403,
            );
        });

        it("closeCase, contained: the registry stays contained, 'closed' is sent, the final manifest says contained with the close step", async function () {
            const state = caseState([step("triage", "succeeded"), step("containment", "succeeded")], {
                lastError: { Error: "States.TaskFailed", Cause: "memory crashed" },
                acquisition: [step("disk", "succeeded")],
            });
            await claimFor(state);
            await markContained(engine.clients.dynamodb, engine.settings.casesTable, state.instance, state.caseId);
            const closed = await closeCase(state, { ...engine.clients, settings: engine.settings });
            const close = closed.steps[closed.steps.length - 1];
            assert.strictEqual(close.step, "close");
            assert.deepStrictEqual(close.detail, { outcome: "contained" });
            assert.strictEqual(closed.outcome, "contained", "the state machine's Outcome choice reads $.outcome");
            assert.deepStrictEqual(close.actions.map((a) => [a.action, a.outcome]), [["state-machine-error", "failed"], ["registry-end-case", "noop"], ["notify", "ok"]]);
            assert.strictEqual(closed.lastError, undefined);
            assert.strictEqual(closed.acquisition, undefined);
            assert.deepStrictEqual(closed.steps.map((s) => s.step), ["open", "triage", "containment", "disk", "close"]);
            assert.strictEqual((await getInstance(engine.clients.dynamodb, engine.settings.casesTable, state.instance))?.status, "contained");
            const [note, ...more] = await engine.published();
            assert.deepStrictEqual(more, []);
            assert.strictEqual(note.kind, "closed");
            assert.match(note.message.summary, /contained \(5 steps, 1 failures, 1 artifacts\)/);
            const { json } = await readManifest(manifestKey(state.caseId));
            assert.strictEqual(json.status, "contained");
            assert.deepStrictEqual(json.steps, closed.steps);
            assert.deepStrictEqual(json.failures, [{ step: "close", action: "state-machine-error", error: "States.TaskFailed: memory crashed" }]);
        });

        it("closeCase, uncontained: the claim ends uncontained and 'failed' is sent", async function () {
            const state = caseState([step("containment", "partial", { detail: { networkContained: false } })]);
            await claimFor(state);
            const closed = await closeCase(state, { ...engine.clients, settings: engine.settings });
            assert.deepStrictEqual(closed.steps[closed.steps.length - 1].detail, { outcome: "uncontained" });
            assert.strictEqual(closed.outcome, "uncontained");
            assert.strictEqual((await getInstance(engine.clients.dynamodb, engine.settings.casesTable, state.instance))?.status, "uncontained");
            assert.deepStrictEqual((await engine.published()).map((p) => p.kind), ["failed"]);
            assert.strictEqual((await readManifest(manifestKey(state.caseId))).json.status, "uncontained");
        });

        it("closeCase, instance missing: the claim ends instance-missing and 'closed' is sent", async function () {
            const state = caseState([step("triage", "failed", { error: "instance not found" })]);
            await claimFor(state);
            assert.strictEqual((await closeCase(state, { ...engine.clients, settings: engine.settings })).outcome, "instance-missing");
            assert.strictEqual((await getInstance(engine.clients.dynamodb, engine.settings.casesTable, state.instance))?.status, "instance-missing");
            assert.deepStrictEqual((await engine.published()).map((p) => p.kind), ["closed"]);
        });

        it("closeCase records a failed notification in the manifest instead of throwing; a failed manifest write throws", async function () {
            const state = caseState([step("containment", "succeeded")]);
            await claimFor(state);
            const noTopic = { ...engine.settings, topicArn: engine.settings.topicArn.replace(/[^:]+$/, "no-such-topic") };
            const closed = await closeCase(state, { ...engine.clients, settings: noTopic });
            const notifyAction = closed.steps[closed.steps.length - 1].actions.find((a) => a.action === "notify");
            assert.strictEqual(notifyAction?.outcome, "failed");
            assert.strictEqual((await readManifest(manifestKey(state.caseId))).json.failures[0].action, "notify");
            const noBucket = { ...engine.settings, evidenceBucket: `irf-missing-${run}` };
            await assert.rejects(closeCase(caseState(), { ...engine.clients, settings: noBucket }), /bucket/i);
        });
    });
});
