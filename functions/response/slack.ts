/**
 * SNS → Slack incoming webhook. Each notification (the JSON of functions/response/notify.ts) becomes one Slack
 * message; a Slack error throws so that Lambda retries the delivery. The webhook URL is a secret: it is
 * read at run time from an SSM SecureString (never from the function's environment, which anyone with
 * lambda:GetFunctionConfiguration can read), and never appears in logs or error messages.
 */
import * as http from "http";
import * as https from "https";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { isObject } from "./events";

/** What the Slack function is deployed with: where the webhook is, not the webhook. */
export interface SlackSettings {
    /** Name of the SSM SecureString parameter that holds the webhook URL. */
    webhookParameter: string;
}

export interface SnsRecord {
    Sns?: {
        Subject?: string | null;
        Message?: string;
        MessageAttributes?: Record<string, { Type?: string; Value?: string }>;
    };
}

export interface SnsEvent {
    Records?: SnsRecord[];
}

/** Sends `body` (JSON) to `url`; resolves with the HTTP status. */
export type Post = (url: string, body: string) => Promise<number>;

export interface SlackDeps {
    webhookUrl: string;
    post?: Post;
}

export interface SlackMessage {
    text: string;
    blocks: Record<string, unknown>[];
}

export const POST_TIMEOUT_MS = 5_000;

const ICONS: Record<string, string> = {
    "case-opened": ":rotating_light:",
    duplicate: ":repeat:",
    ignored: ":grey_question:",
    isolated: ":lock:",
    acquisition: ":floppy_disk:",
    contained: ":no_entry:",
    failed: ":x:",
    closed: ":white_check_mark:",
};

export async function postToSlack(event: SnsEvent, deps: SlackDeps): Promise<{ posted: number }> {
    const post = deps.post ?? ((url, body) => httpPost(url, body));
    let posted = 0;
    for (const record of event.Records ?? []) {
        const status = await post(deps.webhookUrl, JSON.stringify(slackMessage(record)));
        if (status < 200 || status > 299) {
            throw new Error(`Slack webhook answered HTTP ${status} (message ${posted + 1} of ${event.Records?.length})`);
        }
        posted++;
    }
    return { posted };
}

/**
 * The webhook URL from its SecureString parameter (decrypted by SSM with the account's aws/ssm key).
 * Errors name the parameter, never its value.
 */
export async function readWebhookUrl(ssm: Pick<SSMClient, "send">, parameterName: string): Promise<string> {
    let value: string | undefined;
    try {
        value = (await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }))).Parameter?.Value;
    } catch (err) {
        throw new Error(`cannot read the Slack webhook from SSM parameter ${parameterName}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    }
    if (!value || !/^https?:\/\//.test(value)) {
        throw new Error(`SSM parameter ${parameterName} does not hold a webhook URL`);
    }
    return value;
}

/** The Slack message for one SNS record: the notification's fields when it is ours, else subject and text. */
export function slackMessage(record: SnsRecord): SlackMessage {
    const sns = record.Sns ?? {};
    const n = parseJson(sns.Message ?? "");
    if (!isObject(n) || typeof n.kind !== "string") {
        const text = [sns.Subject, sns.Message].filter(Boolean).join("\n") || "(empty notification)";
        return { text: text.slice(0, 3000), blocks: [section(escape(text))] };
    }
    const kind = n.kind;
    const summary = String(n.summary ?? "");
    const instance = isObject(n.instance) ? n.instance : {};
    const detail = isObject(n.detail) ? n.detail : {};
    const link = typeof detail.executionArn === "string" ? executionConsoleUrl(detail.executionArn) : undefined;
    const blocks: Record<string, unknown>[] = [
        { type: "header", text: { type: "plain_text", text: `${kind}`.slice(0, 150), emoji: true } },
        section(`${ICONS[kind] ?? ""} ${escape(summary)}`.trim()),
        {
            type: "section",
            fields: [
                field("Case", n.caseId ?? "(none)"),
                field("Account", instance.accountId),
                field("Region", instance.region),
                field("Instance", instance.instanceId),
            ],
        },
    ];
    if (link) {
        blocks.push(section(`<${link}|Step Functions execution>`));
    }
    const where = `${String(instance.accountId)}/${String(instance.region)}/${String(instance.instanceId)}`;
    return { text: `[ir-forensics] ${kind}: ${where}: ${summary}`.slice(0, 3000), blocks };
}

/** The console page of a Step Functions execution, in the execution's own partition and region. */
export function executionConsoleUrl(executionArn: string): string | undefined {
    const m = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):\d{12}:execution:/.exec(executionArn);
    if (!m) {
        return undefined;
    }
    const [, partition, region] = m;
    const host = partition === "aws-cn" ? "console.amazonaws.cn"
        : partition === "aws-us-gov" ? "console.amazonaws-us-gov.com" : `${region}.console.aws.amazon.com`;
    return `https://${host}/states/home?region=${region}#/v2/executions/details/${encodeURIComponent(executionArn)}`;
}

/** POST over node:http(s), JSON body; rejects on network errors and after `timeoutMs` without an answer. */
export function httpPost(url: string, body: string, timeoutMs = POST_TIMEOUT_MS): Promise<number> {
    return new Promise((resolve, reject) => {
        const target = new URL(url);
        const request = target.protocol === "http:" ? http.request : https.request;
        const req = request(target, {
            method: "POST",
            headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
            timeout: timeoutMs,
        }, (res) => {
            // Drain the answer so the socket is released.
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
            res.on("error", reject);
        });
        // No URL in the message: it is the webhook secret.
        req.on("timeout", () => req.destroy(new Error(`Slack webhook: no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(body);
    });
}

function section(text: string): Record<string, unknown> {
    return { type: "section", text: { type: "mrkdwn", text: text.slice(0, 3000) } };
}

function field(label: string, value: unknown): Record<string, unknown> {
    return { type: "mrkdwn", text: `*${label}*\n${escape(String(value ?? "?"))}`.slice(0, 2000) };
}

/** Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
function escape(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}
