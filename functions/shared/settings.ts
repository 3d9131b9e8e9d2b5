/**
 * Settings the components pass to the engine's functions (closure values and the `IRF_SETTINGS` environment
 * variable). They sit apart from the functions that read them so that every area can import them.
 */

/** Settings the components pass to every function (Lambda environment / closure values). */
export interface EngineSettings {
    partition: string;
    /** Evidence bucket (forensic account) and its KMS key. */
    evidenceBucket: string;
    evidenceKeyArn: string;
    /** DynamoDB table of running cases, one item per instance. */
    casesTable: string;
    /** SNS topic for notifications. */
    topicArn: string;
    /** The incident state machine. */
    stateMachineArn: string;
    /** Member-side names, the same in every member account. */
    member: {
        /** `arn:<partition>:iam::<account>:role<responderRolePath><responderRoleName>` is assumed. */
        responderRolePath: string;
        responderRoleName: string;
        /** Instance profile swapped in at isolation (SSM only) and at containment (deny all). */
        irProfileName: string;
        containedProfileName: string;
        /** Roles of this project in member accounts: never touched by credential revocation. */
        protectedRolePathPrefix: string;
    };
    isolation: {
        /** Run fast isolation after triage (config `isolation.enabled`). */
        enabled: boolean;
        /**
         * Egress the acquisition-isolation group allows when the VPC has no interface endpoints: `0.0.0.0/0`
         * port 443 (documented trade-off) or nothing (`none`: memory acquisition then needs endpoints).
         */
        fallbackHttpsEgress: "0.0.0.0/0" | "none";
        /**
         * Regions of the buckets the host reaches during acquisition (evidence bucket, module store): S3
         * endpoints are regional, so a bucket elsewhere needs the fallback. Default: the VPC's own region.
         */
        bucketRegions?: string[];
    };
}

/** Everything a deployed engine function is given (its `IRF_SETTINGS` environment variable). */
export interface RuntimeSettings extends EngineSettings {
    /** Region of the evidence bucket (the forensic stack's region). */
    evidenceRegion: string;
    /** Accounts the engine acts on; events from others are rejected. */
    memberAccounts: string[];
    /** Regions watched in each member account (where the group keeper keeps the engine's groups). */
    memberRegions?: Record<string, string[]>;
    /** GuardDuty findings at or above this severity open cases; undefined: GuardDuty ignored. */
    guardDutyMinSeverity?: number;
    /** Security Hub custom action ids (the tagger tells Analyze from Contain by them). */
    securityHubActions?: { analyzeId: string; containId: string };
    /** Memory acquisition: the member document and the module store (the memory function only). */
    memory?: MemorySettings;
    /** Disk acquisition (the disk function only), with the forensic account's evidence-copier role. */
    disk?: DiskSettings & { copierRoleArn: string };
}

export interface MemorySettings {
    /** The member accounts' SSM Command document that runs acquire-memory.sh (`memoryDocument`). */
    documentName: string;
    /** Module store bucket (security account): index.json, lime/<arch>/<kernel>/lime.ko, avml/<arch>/avml. */
    moduleStoreBucket: string;
    /** The engine bus, where a kernel without a LiME module is reported to the module factory. */
    buildRequestBus?: string;
    /** Pinned AVML SHA-256 per arch (also in index.json; the script wants both to agree). */
    avmlSha256?: Record<string, string>;
    /** Most bytes one verification round reads (default 64 GiB). */
    verifyRoundBytes?: number;
    /** Seconds after which a verification round stops reading (default 600; the function's timeout is 900). */
    verifyRoundSeconds?: number;
    /**
     * How long an agent that lost its connection is waited for (default 600 s): swapping the instance
     * profile costs the agent its credentials, and it registers again only after a while.
     */
    ssmReconnectSeconds?: number;
}

export interface DiskSettings {
    /** The member account's IR KMS key, e.g. `alias/ir-forensics-ebs` (EBS accepts alias names). */
    memberKeyAlias: string;
    forensicAccountId: string;
    /** Delete the original snapshots once their evidence copy completed (default: keep). */
    deleteOriginals?: boolean;
    maxChecks?: number;
    /** Lock the evidence snapshots (EBS snapshot lock) once completed; unset: not locked. */
    lock?: SnapshotLock;
}

/** EBS snapshot lock settings (config `evidence.snapshotLock`). */
export interface SnapshotLock {
    /** governance: users with ec2:UnlockSnapshot may unlock; compliance: nobody, once the cool-off ends. */
    mode: "governance" | "compliance";
    days: number;
    /** Compliance mode only: hours during which the lock can still be changed (0-72). */
    coolOffHours?: number;
}
