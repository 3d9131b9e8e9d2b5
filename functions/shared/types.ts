/**
 * The case record shared by every function of the response engine and the incident state machine.
 * A case travels through the state machine as one `CaseState` document: each step receives it, appends
 * its `StepRecord` (and artifacts), and returns it. Steps record failures instead of throwing, so that a
 * failed step never stops containment (fail closed); they throw only when they cannot record anything.
 */

/** Tag a responder sets to start a response (value case-insensitive: Analyze | Contain). */
export const STATUS_TAG = "SecurityIncidentStatus";
/** Tag the engine sets at containment, naming the case. */
export const CASE_TAG = "SecurityIncidentCase";
/** Tag values the engine writes. */
export const STATUS_ANALYZE = "Analyze";
export const STATUS_CONTAIN = "Contain";

/** Key prefix of every case in the evidence bucket. */
export const CASES_PREFIX = "cases/";

export interface InstanceRef {
    accountId: string;
    region: string;
    instanceId: string;
}

export type Requested = "analyze" | "contain";

export interface TriggerInfo {
    source: "tag" | "securityhub" | "guardduty" | "manual";
    requested: Requested;
    /** EventBridge event id and time. */
    eventId: string;
    eventTime: string;
    /** The raw tag value as set (before case folding), for the record. */
    rawValue?: string;
    /** Who asked, when the event tells (Security Hub action, manual start); triage adds CloudTrail's answer. */
    identity?: Record<string, unknown>;
    /** The GuardDuty finding (event detail) or the Security Hub finding ids that opened the case. */
    finding?: unknown;
}

/** Input of the incident state machine, built by the case opener. */
export interface CaseInput {
    /** `<account>-<region>-<instance>-<YYYYMMDDTHHMMSSZ>`: also the execution's name. */
    caseId: string;
    mode: Requested;
    instance: InstanceRef;
    trigger: TriggerInfo;
    /** ISO 8601. */
    openedAt: string;
    /** Execution ARN, set by the state machine from its context object. */
    executionArn?: string;
}

export type ActionOutcome = "ok" | "failed" | "skipped" | "noop";

/** One AWS-side action of a step, with its result. */
export interface ActionRecord {
    /** What was done, e.g. `ec2:ModifyNetworkInterfaceAttribute`, `isolate-eni`, `asg-detach`. */
    action: string;
    /** What it was done to (ENI id, group id, target group ARN...). */
    target?: string;
    outcome: ActionOutcome;
    /** ISO 8601. */
    at: string;
    detail?: Record<string, unknown>;
    error?: string;
    /** How many times this same action (and outcome, and error) happened, when more than once; the last at `lastAt`. */
    repeats?: number;
    lastAt?: string;
}

export type StepName = "open" | "triage" | "isolation" | "memory" | "disk" | "containment" | "close";

export interface StepRecord {
    step: StepName;
    /** `partial`: some actions failed, the step went on with the others. */
    status: "succeeded" | "partial" | "failed" | "skipped";
    startedAt: string;
    endedAt: string;
    actions: ActionRecord[];
    /** Why the step failed or was skipped. */
    error?: string;
    /** Step-specific facts (e.g. the routes that keep flows tracked, the previous profile association). */
    detail?: Record<string, unknown>;
}

/** What an acquisition branch returns: its step record and the evidence it produced. */
export interface AcquisitionResult extends StepRecord {
    artifacts?: Artifact[];
}

/** An evidence item the case produced. */
export interface Artifact {
    kind: "metadata" | "memory" | "disk-snapshot" | "log";
    /** Evidence bucket key, for objects. */
    key?: string;
    versionId?: string;
    bytes?: number;
    /** Hex SHA-256 of the content. */
    sha256?: string;
    /** S3's own checksum as stored (base64), when S3 computed one. */
    s3Checksum?: string;
    /** Which function or tool produced it. */
    producedBy: string;
    at: string;
    detail?: Record<string, unknown>;
}

/** One network interface of the instance, as triage found it. */
export interface EniFacts {
    networkInterfaceId: string;
    subnetId: string;
    vpcId: string;
    groupIds: string[];
    deviceIndex: number;
    privateIps: string[];
    ipv6Addresses: string[];
}

/** One EBS block device of the instance. */
export interface BlockDeviceFacts {
    deviceName: string;
    volumeId: string;
    deleteOnTermination?: boolean;
}

/** What triage learned about the instance, for the steps after it. */
export interface InstanceFacts {
    state: string;
    vpcId?: string;
    subnetId?: string;
    networkInterfaces: EniFacts[];
    volumeIds: string[];
    /** EBS block devices as attached (isolation sets DeleteOnTermination=false on each). */
    blockDevices?: BlockDeviceFacts[];
    /** Current instance profile association, if any. */
    profileAssociation?: { associationId: string; profileArn: string };
    platform?: string;
    architecture?: string;
    tags: Record<string, string>;
    /**
     * SSM's view of the instance when the case began (triage, before the profile swap): its PingStatus,
     * "unmanaged" when SSM did not list it, "unknown" when SSM could not be asked.
     */
    ssmAtStart?: string;
}

/** The document the state machine carries from step to step. */
export interface CaseState extends CaseInput {
    steps: StepRecord[];
    artifacts: Artifact[];
    facts?: InstanceFacts;
    /** Set by the state machine's Catch when a step threw: the next step records it. */
    lastError?: { Error?: string; Cause?: string };
    /** The acquisition branches' results, as the Parallel state returns them (containment folds them into the case). */
    acquisition?: AcquisitionResult[];
    /** The disk chain's document between DiskBegin and DiskFinish (its copies go on after containment). */
    diskProgress?: Record<string, unknown>;
    /** The disk chain's record, folded into the case by the close step. */
    diskResult?: AcquisitionResult;
    /** How containment stands after its last attempt (the state machine retries until it holds). */
    containment?: ContainmentProgress;
    /** Set by the close step: how the case ended (the state machine fails the execution unless contained). */
    outcome?: CaseOutcome;
}

/** Outcome the close step and the registry record: the case's end state. */
export type CaseOutcome = "contained" | "uncontained" | "instance-missing";

/** Containment's attempts so far and what the instance itself showed after the last one. */
export interface ContainmentProgress {
    attempts: number;
    /** Every part holds on the instance (groups, rules, profile, revocation, tags). */
    holds: boolean;
    /** The parts still open after the last attempt. */
    open: string[];
    /** Set while attempts remain: the state machine waits this long, then containment runs again. */
    retryInSeconds?: number;
}
