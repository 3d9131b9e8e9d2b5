/**
 * SNS → Slack: the message built from a notification, and the real POST (node:http) to a local
 * webhook on 127.0.0.1; Slack errors and timeouts throw so that Lambda retries.
 */
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { executionConsoleUrl, httpPost, postToSlack, readWebhookUrl, slackMessage, SnsEvent } from "../../functions/response/slack";

const EXECUTION = "arn:aws:states:eu-west-1:222233334444:execution:irf-incident:444455556666-eu-west-1-i-0123456789abcdef0-20261123T101530Z";

/** An SNS event carrying one notification as functions/response/notify.ts publishes it. */
function snsEvent(kind: string, detail: Record<string, unknown> = { executionArn: EXECUTION }): SnsEvent {
    const instance = { accountId: "444455556666", region: "eu-west-1", instanceId: "i-0123456789abcdef0" };
    const message = { kind, caseId: "444455556666-eu-west-1-i-0123456789abcdef0-20261123T101530Z", instance, summary: "Case opened (analyze, tag <Analyze> & co)", detail, where: "444455556666/eu-west-1/i-0123456789abcdef0" };
    return {
        Records: [{
            Sns: {
                Subject: `[ir-forensics] ${kind}: ${message.where}`,
                Message: JSON.stringify(message),
                MessageAttributes: { kind: { Type: "String", Value: kind } },
            },
        }],
    };
}

interface Received {
    method?: string;
    url?: string;
    contentType?: string;
    body: any;
}

/** A webhook on 127.0.0.1 (free port) that answers `status` (or never, for `hang`) and records requests. */
async function webhook(status: number | "hang"): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
    const received: Received[] = [];
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            received.push({ method: req.method, url: req.url, contentType: req.headers["content-type"], body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
            if (status !== "hang") {
                res.writeHead(status, { "Content-Type": "text/plain" }).end(status === 200 ? "ok" : "invalid_payload");
            }
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}/services/T000/B000/secret-token`,
        received,
        close: () => new Promise((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        }),
    };
}

describe("postToSlack", function () {
    const servers: { close(): Promise<void> }[] = [];

    async function serve(status: number | "hang") {
        const s = await webhook(status);
        servers.push(s);
        return s;
    }

    afterEach("close the local webhook servers", async function () {
        await Promise.all(servers.splice(0).map((s) => s.close()));
    });

    it("POSTs the notification as a Slack message (text + blocks with case, where, summary, console link)", async function () {
        const hook = await serve(200);
        const result = await postToSlack(snsEvent("case-opened"), { webhookUrl: hook.url });
        assert.deepStrictEqual(result, { posted: 1 });
        assert.strictEqual(hook.received.length, 1);
        const { method, url, contentType, body } = hook.received[0];
        assert.strictEqual(method, "POST");
        assert.strictEqual(url, "/services/T000/B000/secret-token");
        assert.strictEqual(contentType, "application/json");
        assert.strictEqual(body.text, "[ir-forensics] case-opened: 444455556666/eu-west-1/i-0123456789abcdef0: Case opened (analyze, tag <Analyze> & co)");
        const blocks = JSON.stringify(body.blocks);
        for (const expected of ["case-opened", "444455556666-eu-west-1-i-0123456789abcdef0-20261123T101530Z", "*Account*\\n444455556666", "*Region*\\neu-west-1", "*Instance*\\ni-0123456789abcdef0"]) {
            assert.ok(blocks.includes(expected), `${expected} missing from ${blocks}`);
        }
        assert.ok(blocks.includes("tag &lt;Analyze&gt; &amp; co"), "mrkdwn control characters are escaped in blocks");
        assert.ok(blocks.includes(`<${executionConsoleUrl(EXECUTION)}|Step Functions execution>`), blocks);
    });

    it("a non-2xx answer throws (Lambda retries), without the webhook URL in the message", async function () {
        const hook = await serve(400);
        await assert.rejects(postToSlack(snsEvent("failed"), { webhookUrl: hook.url }), (err: Error) => {
            assert.match(err.message, /HTTP 400/);
            assert.ok(!err.message.includes("secret-token"), err.message);
            return true;
        });
        assert.strictEqual(hook.received.length, 1);
    });

    it("a webhook that never answers fails after the timeout", async function () {
        const hook = await serve("hang");
        await assert.rejects(httpPost(hook.url, "{}", 200), /no answer within 200 ms/);
    });

    it("an injected post gets the same message; a notification without execution has no console link", async function () {
        const bodies: string[] = [];
        await postToSlack(snsEvent("ignored", {}), { webhookUrl: "https://hooks.example/x", post: async (_url, body) => (bodies.push(body), 204) });
        assert.strictEqual(bodies.length, 1);
        assert.ok(!bodies[0].includes("Step Functions execution"));
    });

    it("a message that is not a notification is posted as its subject and text", function () {
        const message = slackMessage({ Sns: { Subject: "AWS Notification", Message: "plain <text>" } });
        assert.strictEqual(message.text, "AWS Notification\nplain <text>");
        assert.deepStrictEqual(message.blocks, [{ type: "section", text: { type: "mrkdwn", text: "AWS Notification\nplain &lt;text&gt;" } }]);
    });

    it("console links follow the execution's partition and region", function () {
        assert.strictEqual(executionConsoleUrl(EXECUTION),
            `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${encodeURIComponent(EXECUTION)}`);
        assert.match(executionConsoleUrl(EXECUTION.replace("arn:aws:", "arn:aws-us-gov:").replace(/eu-west-1/g, "us-gov-west-1")) ?? "", /^https:\/\/console\.amazonaws-us-gov\.com\//);
        assert.strictEqual(executionConsoleUrl("not-an-arn"), undefined);
    });
});

describe("readWebhookUrl", function () {
    const NAME = "/ir-forensics/slack/webhook-url";
    const URL = "https://hooks.slack.com/services/T000/B000/secret-token";
    const answering = (answer: () => unknown) => {
        const sent: GetParameterCommand[] = [];
        return { sent, ssm: { send: async (command: GetParameterCommand) => (sent.push(command), answer()) } as unknown as Pick<SSMClient, "send"> };
    };

    it("reads the SecureString decrypted", async function () {
        const { sent, ssm } = answering(() => ({ Parameter: { Name: NAME, Type: "SecureString", Value: URL } }));
        assert.strictEqual(await readWebhookUrl(ssm, NAME), URL);
        assert.deepStrictEqual(sent.map((c) => c.input), [{ Name: NAME, WithDecryption: true }]);
    });

    it("a refused read names the parameter and the error", async function () {
        const denied = Object.assign(new Error("not authorized to perform: ssm:GetParameter"), { name: "AccessDeniedException" });
        const { ssm } = answering(() => Promise.reject(denied));
        await assert.rejects(readWebhookUrl(ssm, NAME), /cannot read the Slack webhook from SSM parameter \/ir-forensics\/slack\/webhook-url: AccessDeniedException/);
    });

    it("a value that is no URL is refused without being printed", async function () {
        const { ssm } = answering(() => ({ Parameter: { Value: "xoxb-secret-token" } }));
        await assert.rejects(readWebhookUrl(ssm, NAME), (err: Error) => /does not hold a webhook URL/.test(err.message) && !err.message.includes("xoxb"));
    });
});
