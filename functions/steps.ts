/**
 * What every step of a case shares: the step recorder (actions, outcomes, status), `runStep` (steps
 * record failures instead of throwing), and the instance facts read from a fresh describe.
 */
import {
    DescribeIamInstanceProfileAssociationsCommand, DescribeInstancesCommand, EC2Client, IamInstanceProfileAssociation, Instance,
} from "@aws-sdk/client-ec2";
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
