/**
 * The engine's alarm on failed, timed-out and aborted incident executions, forwarded to the
 * notification topic. CloudWatch invokes this function as the alarm's action: CloudWatch cannot
 * publish to a topic under the AWS managed key `alias/aws/sns` itself (that key's policy does not
 * admit cloudwatch.amazonaws.com and cannot be changed), while a function's role can. Event format:
 * "Lambda alarm actions" in the CloudWatch user guide (AlarmThatSendsEmail.html#Lambda-action-payload).
 */
import { SNSClient } from "@aws-sdk/client-sns";
import { notify } from "./notify";

export interface AlarmEvent {
    source?: string;
    alarmArn?: string;
    accountId?: string;
    region?: string;
    time?: string;
    alarmData?: {
        alarmName?: string;
        state?: { value?: string; reason?: string; timestamp?: string };
        previousState?: { value?: string };
    };
}

export interface AlarmDeps {
    sns: SNSClient;
    topicArn: string;
    /** Where the responder looks: the state machine's executions. */
    stateMachineArn: string;
}

/** Publishes the alarm's change as a `failed` notification (ALARM) or a `closed` one (back to OK). */
export async function forwardAlarm(event: AlarmEvent, deps: AlarmDeps): Promise<{ messageId?: string; ignored?: string }> {
    const state = event.alarmData?.state?.value;
    if (event.source !== "aws.cloudwatch" || !state) {
        return { ignored: "not a CloudWatch alarm action" };
    }
    if (state === "INSUFFICIENT_DATA") {
        return { ignored: "insufficient data is the alarm's idle state" };
    }
    const alarm = event.alarmData?.alarmName ?? event.alarmArn ?? "alarm";
    const messageId = await notify(deps.sns, deps.topicArn, {
        kind: state === "ALARM" ? "failed" : "closed",
        summary: state === "ALARM"
            ? `incident executions FAILED, timed out or were aborted (${alarm}): list them with npm run cases -- list --open, see the runbook`
            : `${alarm} back to ${state}`,
        detail: {
            alarm, alarmArn: event.alarmArn, state, previous: event.alarmData?.previousState?.value ?? null,
            reason: event.alarmData?.state?.reason ?? null, at: event.alarmData?.state?.timestamp ?? event.time ?? null,
            stateMachineArn: deps.stateMachineArn,
        },
    });
    return { messageId };
}
