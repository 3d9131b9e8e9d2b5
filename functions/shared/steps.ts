/**
 * What every step of a case shares: the step recorder (actions, outcomes, status), `runStep` (steps
 * record failures instead of throwing), and the instance facts read from a fresh describe.
 */
import {
    DescribeIamInstanceProfileAssociationsCommand, DescribeInstancesCommand, EC2Client, IamInstanceProfileAssociation, Instance,
} from "@aws-sdk/client-ec2";
import { DescribeInstanceInformationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { errorText, now } from "./aws";
import { ActionOutcome, ActionRecord, CaseState, EniFacts, InstanceFacts, InstanceRef, StepName, StepRecord } from "./types";

// ---------------------------------------------------------------------------------------------
// Step records, shared by every step

export type Attempt<T> = { ok: true; value: T } | { ok: false; error: string };

/** Thrown by an action that wants its failure recorded with detail (e.g. where an ENI was left). */
export class ActionError extends Error {
    constructor(message: string, readonly detail: Record<string, unknown>) {
        super(message);
        this.name = "ActionError";
    }
}

/** Actions kept in full per step; past this, later repeats are only counted (the document stays bounded). */
export const MAX_ACTIONS_PER_STEP = 120;

const sameAction = (a: ActionRecord, b: ActionRecord) =>
    a.action === b.action && a.target === b.target && a.outcome === b.outcome && a.error === b.error;

/**
 * Appends actions of a later round to a step's list, counting a repeat of an action already there
 * (same action, target, outcome and error: a poll that failed the same way again) instead of adding it:
 * `repeats` and `lastAt` say how often and until when. Rounds of polling never grow the case document.
 */
export function appendActions(list: ActionRecord[], more: ActionRecord[]): ActionRecord[] {
    const out = [...list];
    for (const action of more) {
        const i = out.findIndex((a) => sameAction(a, action));
        if (i >= 0 && (action.outcome === "failed" || out.length >= MAX_ACTIONS_PER_STEP)) {
            out[i] = { ...out[i], repeats: (out[i].repeats ?? 1) + 1, lastAt: action.at };
        } else if (out.length < MAX_ACTIONS_PER_STEP) {
            out.push(action);
        } else {
            const overflow = out[out.length - 1];
            out[out.length - 1] = overflow.action === "actions-elided"
                ? { ...overflow, repeats: (overflow.repeats ?? 1) + 1, lastAt: action.at }
                : { action: "actions-elided", outcome: "skipped", at: action.at, detail: { reason: `more than ${MAX_ACTIONS_PER_STEP} distinct actions: later ones are counted` }, repeats: 1 };
        }
    }
    return out;
}

/** What a finished action says about itself: its outcome (default "ok") and detail. */
export type ActionSummary = { outcome?: ActionOutcome; detail?: Record<string, unknown> };

/** Collects the actions and detail of one step; decides the step's status from them. */
export class StepRecorder {
    readonly actions: ActionRecord[] = [];
    readonly detail: Record<string, unknown> = {};
    private readonly startedAt = now();
    private status?: "failed" | "skipped";
    private error?: string;

    constructor(readonly step: StepName) {}

    record(action: string, outcome: ActionOutcome, extra: Omit<ActionRecord, "action" | "outcome" | "at"> = {}): void {
        this.actions.push({ action, outcome, at: now(), ...extra });
    }

    /** Runs one action and records its outcome; never throws. */
    async attempt<T>(
        action: string,
        target: string | undefined,
        run: () => Promise<T>,
        summarize?: (value: T) => ActionSummary,
    ): Promise<Attempt<T>> {
        const result = await this.read(action, target, run);
        if (result.ok) {
            const summary = summarize?.(result.value) ?? {};
            this.record(action, summary.outcome ?? "ok", { target, detail: summary.detail });
        }
        return result;
    }

    /** A call that changes nothing: recorded only when it fails (the record lists what was done). */
    async read<T>(action: string, target: string | undefined, run: () => Promise<T>): Promise<Attempt<T>> {
        try {
            return { ok: true, value: await run() };
        } catch (err) {
            const error = errorText(err);
            this.record(action, "failed", { target, error, detail: err instanceof ActionError ? err.detail : undefined });
            return { ok: false, error };
        }
    }

    /** The step failed (its essential part did); later actions still run and are recorded. */
    fail(error: string): void {
        this.status = "failed";
        this.error = this.error ? `${this.error}; ${error}` : error;
    }

    skip(reason: string): void {
        this.status = "skipped";
        this.error = reason;
    }

    get failed(): boolean {
        return this.status === "failed";
    }

    finish(): StepRecord {
        const status = this.status ?? (this.actions.some((a) => a.outcome === "failed") ? "partial" : "succeeded");
        return {
            step: this.step,
            status,
            startedAt: this.startedAt,
            endedAt: now(),
            actions: this.actions,
            ...(this.error ? { error: this.error } : {}),
            ...(Object.keys(this.detail).length > 0 ? { detail: this.detail } : {}),
        };
    }
}

/**
 * Runs one step on a copy of the case and appends its record. Anything the body throws (the member
 * role cannot be assumed, say) fails the step instead of the state machine: steps record, they don't throw.
 */
export async function runStep(
    state: CaseState,
    step: StepName,
    body: (rec: StepRecorder, next: CaseState) => Promise<void>,
): Promise<CaseState> {
    const next: CaseState = { ...state, steps: [...state.steps], artifacts: [...state.artifacts] };
    const rec = new StepRecorder(step);
    try {
        await body(rec, next);
    } catch (err) {
        rec.fail(errorText(err));
    }
    next.steps.push(rec.finish());
    return next;
}

// Instance facts (containment works from a fresh describe)

export function instanceArn(partition: string, ref: InstanceRef): string {
    return `arn:${partition}:ec2:${ref.region}:${ref.accountId}:instance/${ref.instanceId}`;
}

/** The AWS error code of anything thrown (EC2 and IAM put it in `name`). */
export function errorCode(err: unknown): string | undefined {
    return (err as { name?: string; Code?: string }).Code ?? (err as { name?: string }).name;
}

/** The instance's reservation and description, or undefined when it does not exist (any more). */
export async function describeInstance(ec2: EC2Client, instanceId: string): Promise<{ reservation: Record<string, unknown>; instance: Instance } | undefined> {
    try {
        const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        for (const r of out.Reservations ?? []) {
            const instance = r.Instances?.find((i) => i.InstanceId === instanceId);
            if (instance) {
                return { reservation: { ReservationId: r.ReservationId, OwnerId: r.OwnerId, RequesterId: r.RequesterId }, instance };
            }
        }
        return undefined;
    } catch (err) {
        if (errorCode(err) === "InvalidInstanceID.NotFound") {
            return undefined;
        }
        throw err;
    }
}

/** The instance's current profile association (associated or on its way), if any. */
export async function currentProfileAssociation(ec2: EC2Client, instanceId: string): Promise<IamInstanceProfileAssociation | undefined> {
    const out = await ec2.send(new DescribeIamInstanceProfileAssociationsCommand({
        Filters: [{ Name: "instance-id", Values: [instanceId] }],
    }));
    return out.IamInstanceProfileAssociations?.find((a) => a.State === "associated" || a.State === "associating");
}

function eniFacts(instance: Instance): EniFacts[] {
    return (instance.NetworkInterfaces ?? [])
        .map((eni) => ({
            networkInterfaceId: eni.NetworkInterfaceId ?? "",
            subnetId: eni.SubnetId ?? "",
            vpcId: eni.VpcId ?? "",
            groupIds: (eni.Groups ?? []).map((g) => g.GroupId ?? "").filter(Boolean),
            deviceIndex: eni.Attachment?.DeviceIndex ?? 0,
            privateIps: (eni.PrivateIpAddresses ?? []).map((p) => p.PrivateIpAddress ?? "").filter(Boolean),
            ipv6Addresses: (eni.Ipv6Addresses ?? []).map((a) => a.Ipv6Address ?? "").filter(Boolean),
        }))
        .sort((a, b) => a.deviceIndex - b.deviceIndex);
}

/** What the later steps need to know about the instance. */
export function instanceFacts(instance: Instance, association?: IamInstanceProfileAssociation): InstanceFacts {
    const blockDevices = (instance.BlockDeviceMappings ?? [])
        .filter((b) => b.DeviceName && b.Ebs?.VolumeId)
        .map((b) => ({ deviceName: b.DeviceName ?? "", volumeId: b.Ebs?.VolumeId ?? "", deleteOnTermination: b.Ebs?.DeleteOnTermination }));
    const profileArn = association?.IamInstanceProfile?.Arn;
    return {
        state: instance.State?.Name ?? "unknown",
        vpcId: instance.VpcId,
        subnetId: instance.SubnetId,
        networkInterfaces: eniFacts(instance),
        volumeIds: blockDevices.map((b) => b.volumeId),
        blockDevices,
        ...(association?.AssociationId && profileArn ? { profileAssociation: { associationId: association.AssociationId, profileArn } } : {}),
        platform: instance.PlatformDetails ?? instance.Platform,
        architecture: instance.Architecture,
        tags: Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
    };
}

/**
 * SSM's view of the instance before the profile swap (whether to wait for its agent to reconnect after it).
 * Supplementary: a failure to ask is kept in the step's detail ("unknown") and does not fail the step.
 */
export async function ssmView(ssm: SSMClient | undefined, id: string): Promise<{ pingStatus: string; error?: string }> {
    if (!ssm) {
        return { pingStatus: "unknown", error: "no SSM client" };
    }
    try {
        const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [id] }] }));
        return { pingStatus: out.InstanceInformationList?.find((i) => i.InstanceId === id)?.PingStatus ?? "unmanaged" };
    } catch (err) {
        return { pingStatus: "unknown", error: errorText(err) };
    }
}
