/**
 * Notifications to the engine's SNS topic. Every message names the case, account, region and instance;
 * the `kind` attribute lets subscribers filter (e.g. only `failed` to a pager).
 */
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { InstanceRef } from "../shared/types";

export type NotificationKind =
    | "case-opened" | "duplicate" | "ignored" | "isolated" | "acquisition" | "contained" | "failed" | "closed";

export interface Notification {
    kind: NotificationKind;
    caseId?: string;
    /** The instance concerned; absent for the engine's own alarms. */
    instance?: InstanceRef;
    /** One line for humans (Slack, e-mail subject). */
    summary: string;
    detail?: Record<string, unknown>;
}

/** Publishes one notification; returns the message id. */
export async function notify(sns: SNSClient, topicArn: string, n: Notification): Promise<string | undefined> {
    const where = n.instance ? `${n.instance.accountId}/${n.instance.region}/${n.instance.instanceId}` : "response engine";
    const subject = `[ir-forensics] ${n.kind}: ${where}`.slice(0, 100);
    const out = await sns.send(new PublishCommand({
        TopicArn: topicArn,
        Subject: subject.replace(/[^\x20-\x7e]/g, " "),
        Message: JSON.stringify({ ...n, where }, null, 2),
        MessageAttributes: {
            kind: { DataType: "String", StringValue: n.kind },
            ...(n.caseId ? { caseId: { DataType: "String", StringValue: n.caseId } } : {}),
        },
    }));
    return out.MessageId;
}
