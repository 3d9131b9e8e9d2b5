/**
 * EventBridge patterns of the events that open cases. The member rules forward exactly these to the
 * engine's bus, and the engine's rules match them again there (defence in depth: the bus admits the
 * whole organization).
 */
import { STATUS_TAG } from "../functions/types";

/** Changes of the `SecurityIncidentStatus` tag on EC2 instances (any value: the opener reports the others). */
export function tagChangePattern(): object {
    return {
        source: ["aws.tag"],
        "detail-type": ["Tag Change on Resource"],
        detail: {
            service: ["ec2"],
            "resource-type": ["instance"],
            "changed-tag-keys": [STATUS_TAG],
        },
    };
}

/** GuardDuty findings about EC2 instances at or above a severity. */
export function guardDutyPattern(minSeverity: number): object {
    return {
        source: ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        detail: {
            resource: { resourceType: ["Instance"] },
            severity: [{ numeric: [">=", minSeverity] }],
        },
    };
}

/** The patterns in force: tag changes always, GuardDuty when a threshold is configured. */
export function casePatterns(guardDutyMinSeverity?: number): Record<string, object> {
    return {
        "tag-change": tagChangePattern(),
        ...(guardDutyMinSeverity === undefined ? {} : { guardduty: guardDutyPattern(guardDutyMinSeverity) }),
    };
}
