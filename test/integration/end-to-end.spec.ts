/**
 * The whole response, as deployed: the security stack is rendered under mocks, each callback's generated
 * `__index.js` (what Lambda would run) is loaded with the environment the stack gives it, and the incident
 * state machine definition the stack deploys is executed by aws-local-stepfunctions with those callbacks
 * as task handlers; every AWS call goes to moto, in the member, security and forensic accounts.
 */
import * as assert from "assert";
import * as http from "http";
import * as path from "path";
import { AddressInfo } from "net";
import * as aws from "@pulumi/aws";
import {
    DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeSecurityGroupsCommand,
} from "@aws-sdk/client-ec2";
import { GetObjectCommand, ListObjectVersionsCommand } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand } from "@aws-sdk/client-sfn";
import { PublishCommand } from "@aws-sdk/client-sns";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { getInstance } from "../../functions/response/registry";
import { CASE_TAG, InstanceRef, STATUS_TAG } from "../../functions/shared/types";
import { AccountClients, clientConfig, clientsFor, DEFAULT_REGION, forAccount, harnessCredentials } from "../../emulator/aws/aws-clients";
import { allStates, launchSuspect, prepareEngine, runIncident, suspectNetwork } from "../../emulator/deploy/emulated-engine";
import { DeployedCallback, deployedCallbacks, LambdaHandler, loadCallback, withEnvironment } from "../support/deployed";
import { customActionEvent, tagEvent } from "../support/events";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";
import { one, RenderedStack } from "../support/pulumi";
import { renderSecurity } from "../support/stacks";

/** The webhook the stack is configured with (a Pulumi secret); the test repoints the deployed code at a local server. */
const CONFIGURED_WEBHOOK = "https://hooks.slack.com/services/T0/B0/configured-secret";

describe("end to end: tag event → deployed callbacks and state machine → contained (moto)", function () {
    this.timeout(120_000);
    const moto = useMoto();
    let stack: RenderedStack;
    let callbacks: Record<string, DeployedCallback>;
    let handlers: Record<string, LambdaHandler>;
    let restoreEnv: () => void;
    let member: AccountClients;
    let security: AccountClients;
    let forensic: AccountClients;
    let queueUrl: string;
    let settings: any;

    before("render the security stack and write its callbacks", async () => {
        stack = await renderSecurity({ secrets: { "ir-forensics:slackWebhookUrl": CONFIGURED_WEBHOOK } });
        callbacks = await deployedCallbacks(stack);
        settings = JSON.parse(callbacks["engine-open-case"].environment.IRF_SETTINGS);
    });

    before("create what the stacks would have created, in moto", async () => {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER);
        security = clientsFor(moto().endpoint, SECURITY);
        forensic = clientsFor(moto().endpoint, FORENSIC);
        const prepared = await prepareEngine(settings, { forensic, security, member });
        queueUrl = prepared.notificationQueueUrl;
        // The stack's settings name a mock key: every function is given moto's key instead.
        for (const cb of Object.values(callbacks)) {
            if (cb.environment.IRF_SETTINGS) {
                cb.environment.IRF_SETTINGS = cb.environment.IRF_SETTINGS.split(settings.evidenceKeyArn).join(prepared.evidenceKeyArn);
            }
        }
        settings.evidenceKeyArn = prepared.evidenceKeyArn;
        // The account root (the harness): the rendered stack names mock resources, so its roles cannot be
        // deployed here; the drill runs each function with its own deployed role.
        const creds = harnessCredentials(SECURITY);
        restoreEnv = withEnvironment({
            AWS_ENDPOINT_URL: moto().endpoint,
            AWS_REGION: DEFAULT_REGION,
            AWS_ACCESS_KEY_ID: creds.accessKeyId,
            AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
            
            IRF_SETTINGS: "",
        });
        handlers = Object.fromEntries(Object.values(callbacks).map((cb) => [cb.name, loadCallback(cb)]));
    });

    after(() => {
        restoreEnv?.();
        for (const clients of [member, security, forensic]) {
            Object.values(clients ?? {}).forEach((c) => c.destroy());
        }
    });

    let networks = 0;
    /** A dual-stack VPC and an instance with two ENIs that carries a workload profile. */
    async function suspect(): Promise<{ ref: InstanceRef; enis: string[]; vpcId: string }> {
        const net = await suspectNetwork(member, networks++);
        return { ...(await launchSuspect(member, MEMBER, net)), vpcId: net.vpcId };
    }

    async function notificationKinds(): Promise<string[]> {
        const kinds: string[] = [];
        for (;;) {
            const got = await security.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            if (!got.Messages?.length) {
                return kinds;
            }
            kinds.push(...got.Messages.map((m) => JSON.parse(m.Body!).MessageAttributes?.kind?.Value));
        }
    }

    /** Runs the deployed definition with the deployed callbacks as its task handlers. */
    async function runDeployedIncident(input: unknown, executionArn: string): Promise<any> {
        const machine = one(stack, aws.sfn.StateMachine, "engine-incident");
        const definition = JSON.parse(machine.inputs.definition);
        const byArn = Object.fromEntries(Object.values(callbacks).map((cb) => [cb.arn, handlers[cb.name]]));
        const local: Record<string, (input: any) => Promise<any>> = {};
        for (const [name, state] of allStates(definition)) {
            const handler = state.Type === "Task" && state.Resource ? byArn[state.Resource] : undefined;
            if (handler) {
                local[name] = (event) => handler(event, {}).catch((e: Error) => { console.error(`step ${name} threw:`, e.stack); throw e; });
            }
        }
        // The optimized SNS integration, as Step Functions would call it.
        local.NotifyAcquisition = async (params: any) => security.sns.send(new PublishCommand(params));
        assert.deepStrictEqual(Object.keys(local).sort(), [
            "Close", "Contain", "DiskBegin", "DiskCopyAdvance", "DiskCopyFinish", "Isolate", "MemoryAdvance", "MemoryBegin", "MemoryFinish", "NotifyAcquisition",
            "Record", "Triage", "TriageContained",
        ]);
        return runIncident(definition, input, executionArn, local);
    }

    it("ships small archives of generated code, and hash-wasm with the memory function only, resolved from its archive", () => {
        assert.ok(Object.keys(callbacks).length >= 8, Object.keys(callbacks).join());
        for (const cb of Object.values(callbacks)) {
            const packaged = Object.keys(cb.files).filter((f) => f !== "__index.js");
            if (cb.name === "engine-memory") {
                assert.ok(packaged.length > 0 && packaged.every((f) => f.startsWith("node_modules/hash-wasm/")), packaged.join());
                // What Lambda would load: the archive's copy (the runtime has no hash-wasm).
                assert.ok(require.resolve("hash-wasm", { paths: [path.dirname(cb.file)] }).startsWith(path.dirname(cb.file)), "hash-wasm resolves outside the archive");
            } else {
                assert.deepStrictEqual(packaged, [], `${cb.name} ships more than its handler`);
            }
            assert.ok(cb.files["__index.js"] < 1024 * 1024, `${cb.name}: ${cb.files["__index.js"]} bytes`);
        }
    });

    it("opens, isolates, contains and records a two-ENI IPv6 instance, through the deployed code", async () => {
        const { ref, enis, vpcId } = await suspect();
        const opened = await handlers["engine-open-case"](tagEvent(ref, "analyze"));
        assert.strictEqual(opened.outcome, "opened", JSON.stringify(opened));
        const again = await handlers["engine-open-case"](tagEvent(ref, "Analyze"));
        assert.strictEqual(again.outcome, "duplicate");

        const described = await security.sfn.send(new DescribeExecutionCommand({ executionArn: opened.executionArn }));
        const result = await runDeployedIncident(JSON.parse(described.input!), opened.executionArn).catch(async (err) => {
            // Show the case record of a failed run: it says which step failed and why.
            const key = `cases/${opened.caseId}/manifest.json`;
            const body = await forensic.s3.send(new GetObjectCommand({ Bucket: settings.evidenceBucket, Key: key }))
                .then((out) => out.Body!.transformToString(), (read: unknown) => JSON.stringify({ failures: `no manifest (${String(read)})` }));
            const failures = JSON.parse(body).failures;
            throw new Error(`${String(err)}\nfailures: ${JSON.stringify(failures, null, 1)}`);
        });
        assert.strictEqual(result.outcome, "contained");
        assert.deepStrictEqual(result.steps.map((s: any) => s.step), ["isolation", "triage", "memory", "containment", "disk", "close"]);
        assert.deepStrictEqual(result.steps.filter((s: any) => s.step === "triage" || s.step === "isolation").map((s: any) => s.status), ["succeeded", "succeeded"]);
        // Acquisition ran through the deployed branches. moto runs no SSM command (memory fails: no module
        // store and no host report here; the drill runs the host script) and cannot show a snapshot shared with
        // another account (the evidence copy fails): both failures are recorded, and containment still ran.
        const [memoryStep, diskStep] = ["memory", "disk"].map((n) => result.steps.find((s: any) => s.step === n));
        assert.strictEqual(memoryStep.status, "failed");
        assert.ok(memoryStep.error, "the memory failure has a reason");
        assert.ok(memoryStep.actions.some((a: any) => a.action === "s3:AbortMultipartUpload" && a.outcome === "ok"), "the unused upload was aborted");
        const outcomes = diskStep.actions.map((a: any) => `${a.action}:${a.outcome}`);
        for (const expected of ["ec2:CreateSnapshots:ok", "ec2:CopySnapshot:ok", "ec2:ModifySnapshotAttribute:ok", "ec2:CopySnapshot:failed", "ec2:DeleteSnapshot:ok"]) {
            assert.ok(outcomes.includes(expected), `${expected} in ${outcomes.join(", ")}`);
        }
        const snapshots = result.artifacts.filter((a: any) => a.kind === "disk-snapshot");
        assert.strictEqual(snapshots.length, 1, "one volume, one snapshot chain");
        assert.ok(snapshots[0].detail.originalSnapshotId && snapshots[0].detail.memberCopySnapshotId, "original and member copy recorded");
        assert.strictEqual(snapshots[0].detail.memberCopyDeleted, true, "the member-side copy was cleaned up");
        assert.match(snapshots[0].detail.error, /^evidence: /);

        // Every ENI ends in the group without rules; the instance carries the deny-all profile and the case tags.
        const contained = (await member.ec2.send(new DescribeSecurityGroupsCommand({
            Filters: [{ Name: "vpc-id", Values: [vpcId] }, { Name: "group-name", Values: ["ir-forensics-contained"] }],
        }))).SecurityGroups![0];
        assert.deepStrictEqual([contained.IpPermissions, contained.IpPermissionsEgress], [[], []]);
        const eniGroups = (await member.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: enis }))).NetworkInterfaces!
            .map((e) => e.Groups!.map((g) => g.GroupId));
        assert.deepStrictEqual(eniGroups, [[contained.GroupId], [contained.GroupId]]);
        const tags = (await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [ref.instanceId] }))).Reservations![0].Instances![0].Tags!;
        assert.strictEqual(tags.find((t) => t.Key === STATUS_TAG)?.Value, "Contain");
        assert.strictEqual(tags.find((t) => t.Key === CASE_TAG)?.Value, opened.caseId);
        assert.strictEqual((await getInstance(security.dynamodb, settings.casesTable, ref))?.status, "contained");

        // The manifest's last version holds the whole case; earlier versions stay (Object Lock).
        const key = `cases/${opened.caseId}/manifest.json`;
        const versions = await forensic.s3.send(new ListObjectVersionsCommand({ Bucket: settings.evidenceBucket, Prefix: key }));
        assert.ok((versions.Versions ?? []).length >= 2, "the manifest was written once");
        const manifest = JSON.parse(await (await forensic.s3.send(new GetObjectCommand({ Bucket: settings.evidenceBucket, Key: key }))).Body!.transformToString());
        assert.strictEqual(manifest.status, "contained");
        assert.ok(manifest.artifacts.some((a: any) => a.kind === "metadata" && a.sha256), "no triage evidence in the manifest");
        assert.deepStrictEqual(
            (await notificationKinds()).filter((k) => k !== "duplicate"),
            ["case-opened", "isolated", "acquisition", "contained", "closed"],
        );

        // The Contain tag the engine wrote comes back as an event: a reported no-op.
        const echo = await handlers["engine-open-case"](tagEvent(ref, "Contain"));
        assert.strictEqual(echo.outcome, "already-contained");
    });

    it("tags the instances of a Security Hub finding through the deployed tagger", async () => {
        const { ref } = await suspect();
        const arn = `arn:aws:ec2:${ref.region}:${ref.accountId}:instance/${ref.instanceId}`;
        const result = await handlers["securityhub-tagger"](customActionEvent("IrfAnalyze", [[{ Type: "AwsEc2Instance", Id: arn }]]));
        assert.ok(JSON.stringify(result).includes(ref.instanceId));
        const tags = (await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [ref.instanceId] }))).Reservations![0].Instances![0].Tags!;
        assert.strictEqual(tags.find((t) => t.Key === STATUS_TAG)?.Value, "Analyze");
    });

    it("posts notifications to Slack through the deployed callback", async () => {
        const received: string[] = [];
        const server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                received.push(body);
                res.end("ok");
            });
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
            const securitySsm = forAccount(new SSMClient(clientConfig(moto().endpoint)), SECURITY);
            const cb = callbacks["engine-slack"];
            assert.ok(!cb.environment.IRF_SETTINGS.includes(CONFIGURED_WEBHOOK), "the webhook is in the environment");
            const parameter = JSON.parse(cb.environment.IRF_SETTINGS).webhookParameter;
            // What the stack's SecureString holds, pointed at a local server instead of Slack.
            await securitySsm.send(new PutParameterCommand({ Name: parameter, Type: "SecureString", Value: url, Overwrite: true }));
            const slack = loadCallback(cb);
            const message = { kind: "contained", caseId: "c-1", instance: { accountId: MEMBER, region: DEFAULT_REGION, instanceId: "i-0123456789abcdef0" }, summary: "contained", where: "x" };
            await slack({ Records: [{ Sns: { Subject: "[ir-forensics] contained", Message: JSON.stringify(message), MessageAttributes: { kind: { Type: "String", Value: "contained" } } } }] });
            assert.strictEqual(received.length, 1);
            assert.match(received[0], /i-0123456789abcdef0/);
        } finally {
            server.close();
        }
    });
});
