/**
 * The security account's side of the response engine on moto, for specs of functions/: the cases table,
 * the notification topic with an SQS queue subscribed (to read what was published), and an incident
 * state machine stand-in that moto really runs (Pass, then a long Wait so its executions stay RUNNING).
 */
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateRoleCommand } from "@aws-sdk/client-iam";
import { CreateStateMachineCommand, ListExecutionsCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { EngineSettings } from "../../functions/shared/settings";
import { Notification } from "../../functions/response/notify";
import { AccountClients, clientsFor } from "../../emulator/aws/aws-clients";
import { stepSettings } from "./cases";
import { SECURITY } from "./moto";

export interface Published {
    subject: string;
    kind: string;
    message: Notification & { where: string };
}

export interface Engine {
    /** SECURITY-account clients. */
    clients: AccountClients;
    settings: EngineSettings;
    /** Notifications published since the last call (read and deleted from the queue). */
    published(): Promise<Published[]>;
    /** Names of the state machine's executions whose name starts with `prefix`. */
    executions(prefix: string): Promise<{ name: string; arn: string; status: string }[]>;
    /** Stops every running execution and closes the clients. */
    close(): Promise<void>;
}

/** How long the stand-in state machine keeps an execution RUNNING. */
export const HOLD_SECONDS = 300;

const DEFINITION = JSON.stringify({
    StartAt: "Received",
    States: {
        Received: { Type: "Pass", Next: "Hold" },
        Hold: { Type: "Wait", Seconds: HOLD_SECONDS, End: true },
    },
});

/** `evidence`: the evidence bucket and key the settings name (specs that write no evidence need none). */
export async function createEngine(endpoint: string, run: string, evidence = { bucket: `irf-evidence-${run}`, keyArn: "" }): Promise<Engine> {
    const clients = clientsFor(endpoint, SECURITY);
    const casesTable = `cases-${run}`;
    await clients.dynamodb.send(new CreateTableCommand({
        TableName: casesTable,
        AttributeDefinitions: [{ AttributeName: "instanceKey", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "instanceKey", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
    }));
    const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: `irf-notifications-${run}` }));
    const { QueueUrl } = await clients.sqs.send(new CreateQueueCommand({ QueueName: `irf-notifications-${run}` }));
    const { Attributes } = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
    await clients.sns.send(new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: Attributes?.QueueArn }));
    const { Role } = await clients.iam.send(new CreateRoleCommand({
        RoleName: `irf-incident-${run}`,
        AssumeRolePolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "states.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
    }));
    const { stateMachineArn } = await clients.sfn.send(new CreateStateMachineCommand({
        name: `irf-incident-${run}`, definition: DEFINITION, roleArn: Role?.Arn,
    }));
    const settings: EngineSettings = {
        ...stepSettings({ evidenceBucket: evidence.bucket, evidenceKeyArn: evidence.keyArn }),
        casesTable, topicArn: TopicArn!, stateMachineArn: stateMachineArn!,
    };
    const executions = async (prefix: string) => {
        const { executions: list = [] } = await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn }));
        return list.filter((e) => e.name?.startsWith(prefix)).map((e) => ({ name: e.name!, arn: e.executionArn!, status: e.status! }));
    };
    return {
        clients,
        settings,
        published: () => drain(clients, QueueUrl!),
        executions,
        async close() {
            for (const e of (await executions("")).filter((x) => x.status === "RUNNING")) {
                await clients.sfn.send(new StopExecutionCommand({ executionArn: e.arn }));
            }
            for (const client of Object.values(clients)) {
                client.destroy();
            }
        },
    };
}

/** moto delivers SNS → SQS during Publish, so an immediate receive sees everything published so far. */
async function drain(clients: AccountClients, queueUrl: string): Promise<Published[]> {
    const out: Published[] = [];
    for (;;) {
        const { Messages = [] } = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (Messages.length === 0) {
            return out;
        }
        for (const m of Messages) {
            const envelope = JSON.parse(m.Body ?? "{}");
            out.push({ subject: envelope.Subject, kind: envelope.MessageAttributes?.kind?.Value, message: JSON.parse(envelope.Message) });
            await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
        }
    }
}

type Middleware = (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => Promise<unknown>;

interface Countable {
    middlewareStack: {
        add(m: Middleware, options: { step: "initialize"; name: string }): void;
        remove(name: string): boolean;
    };
}

/** Records the command name of every call made through `clients` until `stop()`. */
export function countCalls(...clients: object[]): { calls: string[]; stop(): void } {
    const calls: string[] = [];
    const name = `callCounter-${Math.random().toString(36).slice(2)}`;
    for (const c of clients as Countable[]) {
        c.middlewareStack.add((next, context) => (args) => {
            calls.push((context.commandName ?? "?").replace(/Command$/, ""));
            return next(args);
        }, { step: "initialize", name });
    }
    return { calls, stop: () => (clients as Countable[]).forEach((c) => c.middlewareStack.remove(name)) };
}

export interface CapturedLine {
    level: "log" | "warn" | "error";
    /** The JSON line the function logged, parsed (undefined when it is not JSON). */
    json?: Record<string, unknown>;
    text: string;
}

/**
 * Collects what the functions log (their structured JSON lines) instead of printing it, until
 * `restore()`. mocha's reporter keeps its own reference to console.log and still prints.
 */
export function captureLogs(): { lines: CapturedLine[]; restore(): void } {
    const lines: CapturedLine[] = [];
    const saved = { log: console.log, warn: console.warn, error: console.error };
    for (const level of ["log", "warn", "error"] as const) {
        console[level] = (...args: unknown[]) => {
            const text = args.map(String).join(" ");
            lines.push({ level, text, json: parseJson(text) });
        };
    }
    return { lines, restore: () => Object.assign(console, saved) };
}

function parseJson(text: string): Record<string, unknown> | undefined {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}
