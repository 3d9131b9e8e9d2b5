/** The drill's command line: the fault scenarios, the options and their parsing. */
import { parseArgs } from "util";

/** The evidence a case should hold. */
export type ArtifactKind = "metadata" | "memory" | "disk";

/** The fault scenarios the drill can inject: what each does, and which artifacts it expects to be missing. */
export const SCENARIO_DETAILS: Record<string, { description: string; expectMissing: ArtifactKind[] }> = {
    "no-ssm": { description: "the victims' SSM agent is offline (hosts unmanaged): memory cannot be acquired", expectMissing: ["memory"] },
    "no-module": { description: "no LiME module for the victims' kernel: the host script falls back to AVML", expectMissing: [] },
    "kms-denied": {
        description: "every KMS call and SSE-KMS write of the engine is denied (AccessDenied): nothing can be recorded",
        expectMissing: ["metadata", "memory"],
    },
    "throttling": { description: "bursts of ThrottlingException: 3 of every 20 API calls of the engine (S3 and STS excepted)", expectMissing: [] },
    "terminated": { description: "each victim is terminated (protection lifted by an operator) right after isolation", expectMissing: ["memory"] },
    "release": {
        description: "each contained victim is released (cases release), checked, then tagged Contain again, which must open a new contain case",
        expectMissing: [],
    },
};

/** The scenarios and what each does (for usage and errors). */
export const SCENARIOS: Record<string, string> = Object.fromEntries(Object.entries(SCENARIO_DETAILS).map(([k, v]) => [k, v.description]));

export const DRILL_KERNEL = "6.1.0-drill";
export const UNKNOWN_KERNEL = "6.1.0-drill-custom";
export const BANNER = `Linux version ${DRILL_KERNEL} (drill@ir-forensics) (gcc 12.2.0) #1 SMP PREEMPT_DYNAMIC`;
/** Victim instance types by RAM (MiB), smallest first: the victim is the smallest that holds --ram-mib. */
export const INSTANCE_TYPES: [number, string][] = [[512, "t3.nano"], [1024, "t3.micro"], [2048, "t3.small"], [4096, "t3.medium"]];
export const STAGES = ["isolation", "memory", "disk", "containment"] as const;
/** Victims per drill: 200, the outbreak the bench measures. */
const MAX_INSTANCES = 200;

export const TIMELINE_LABELS: Record<string, string> = { isolation: "isolated", memory: "memory", disk: "disk", containment: "contained" };

export interface DrillOptions {
    instances: number;
    enis: number;
    ipv6: boolean;
    asg: boolean;
    targetGroup: boolean;
    ramMiB: number;
    /** EBS volumes per victim (the root volume included). */
    volumes: number;
    /** The victims' region (default: the first member region); a member of the security stack must have it. */
    memberRegion?: string;
    /** Victim volumes under a customer-managed key whose policy is what docs/architecture.md tells users to set. */
    cmkVolumes: boolean;
    /** The victims' VPC has an STS interface endpoint and reaches SSM and S3 through a NAT gateway. */
    endpoints: boolean;
    /** The strict layer off (comparison only). */
    lenient: boolean;
    /** Seconds after a profile change until the SSM agent registers again (default 60). */
    ssmReregisterSeconds: number;
    /** The definition's own Wait durations instead of 1 s each (what the engine's polling costs on AWS). */
    realWaits: boolean;
    /** Victims spread round-robin over every member account and region of the security stack. */
    spread: boolean;
    scenarios: string[];
    json: boolean;
    forensicConfig?: string;
    securityConfig?: string;
}



export function parseDrillArgs(argv: string[]): DrillOptions {
    const { values } = parseArgs({
        args: argv,
        options: {
            "instances": { type: "string", default: "2" },
            "enis": { type: "string", default: "1" },
            "ipv6": { type: "boolean", default: false },
            "asg": { type: "boolean", default: false },
            "target-group": { type: "boolean", default: false },
            "ram-mib": { type: "string", default: "512" },
            "volumes": { type: "string", default: "1" },
            "member-region": { type: "string" },
            "cmk-volumes": { type: "boolean", default: false },
            "endpoints": { type: "boolean", default: false },
            "lenient": { type: "boolean", default: false },
            "ssm-reregister-seconds": { type: "string", default: "60" },
            "real-waits": { type: "boolean", default: false },
            "spread": { type: "boolean", default: false },
            "scenario": { type: "string", multiple: true, default: [] },
            "json": { type: "boolean", default: false },
            "forensic-config": { type: "string" },
            "security-config": { type: "string" },
            "help": { type: "boolean", default: false },
        },
        strict: true,
    });
    if (values.help) {
        throw new UsageError(usage());
    }
    const count = (name: string, raw: string, min: number, max: number): number => {
        const n = Number(raw);
        if (!Number.isInteger(n) || n < min || n > max) {
            throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
        }
        return n;
    };
    const scenarios = values.scenario.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
    if (values.spread && (values.asg || values["target-group"] || values["member-region"] || scenarios.includes("release"))) {
        throw new UsageError("--spread places victims in every member account and region: it does not combine with --asg, --target-group, --member-region or --scenario release");
    }
    for (const s of scenarios) {
        if (!SCENARIOS[s]) {
            throw new UsageError(`unknown --scenario "${s}"; one of: ${Object.keys(SCENARIOS).join(", ")}`);
        }
    }
    return {
        instances: count("instances", values.instances, 1, MAX_INSTANCES),
        enis: count("enis", values.enis, 1, 8),
        ipv6: values.ipv6,
        asg: values.asg,
        targetGroup: values["target-group"],
        ramMiB: count("ram-mib", values["ram-mib"], 1, 4096),
        volumes: count("volumes", values.volumes, 1, 8),
        memberRegion: values["member-region"],
        cmkVolumes: values["cmk-volumes"],
        endpoints: values.endpoints,
        lenient: values.lenient,
        ssmReregisterSeconds: count("ssm-reregister-seconds", values["ssm-reregister-seconds"], 0, 3600),
        realWaits: values["real-waits"],
        spread: values.spread,
        scenarios: [...new Set(scenarios)],
        json: values.json,
        forensicConfig: values["forensic-config"],
        securityConfig: values["security-config"],
    };
}

export class UsageError extends Error {}

function usage(): string {
    return [
        "usage: npm run drill -- [options]",
        "  --instances N        victim instances (default 2)",
        "  --enis N             network interfaces per victim (default 1)",
        "  --ipv6               give every interface an IPv6 address",
        "  --asg                put the victims in an Auto Scaling group",
        "  --target-group       register the victims in a load balancer target group",
        "  --ram-mib N          each victim's memory image in MiB (default 512); the victim is the smallest t3",
        "                       type with that much RAM; an image under half its RAM is rejected as incomplete",
        "  --volumes N          EBS volumes per victim, the root volume included (default 1)",
        "  --member-region R    launch the victims in region R of the first member that has it (default: its first region)",
        "  --cmk-volumes        encrypt the victims' volumes under a customer-managed key (with the key policy docs/architecture.md names)",
        "  --endpoints          give the victims' VPC an STS interface endpoint; SSM and S3 are reached through NAT",
        "  --ssm-reregister-seconds N  seconds until an SSM agent registers again after a profile change (default 60)",
        "  --spread             spread the victims over every member account and region (default: one placement)",
        "  --real-waits         keep the deployed Wait durations (memory polled every 20 s, snapshots every 120 s) instead of 1 s",
        "  --lenient            turn the strict layer off (AWS's rules unchecked): for comparison only",
        "  --scenario NAME      inject a fault (repeatable or comma-separated):",
        ...Object.entries(SCENARIOS).map(([k, v]) => `                         ${k}: ${v}`),
        "  --json               print the report as one JSON document",
        "  --forensic-config F  settings file of the forensic stack (default Pulumi.forensic.yaml)",
        "  --security-config F  settings file of the security stack (default Pulumi.security.yaml)",
    ].join("\n");
}
