/**
 * EventBridge patterns of the events that open cases. The member rules forward exactly these to the
 * engine's bus, and the engine's rules match them again there (defence in depth: the bus admits the
 * whole organization).
 */
import { OCSF_EC2_INSTANCE, OCSF_FINDINGS_DETAIL_TYPE, ocsfSeverityFloor, SECURITY_HUB_SOURCE } from "../../functions/response/events";
import { STATUS_TAG } from "../../functions/shared/types";

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

/**
 * AWS Security Hub's OCSF findings (`Findings Imported V2`) that name an EC2 instance, at or above the OCSF
 * severity band of GuardDuty's threshold: GuardDuty and Inspector findings routed through the new Security Hub.
 */
export function ocsfFindingsPattern(guardDutyMinSeverity: number): object {
    return {
        source: [SECURITY_HUB_SOURCE],
        "detail-type": [OCSF_FINDINGS_DETAIL_TYPE],
        detail: {
            findings: {
                resources: { type: [OCSF_EC2_INSTANCE] },
                severity_id: [{ numeric: [">=", ocsfSeverityFloor(guardDutyMinSeverity)] }],
            },
        },
    };
}

/** The patterns in force: tag changes always; GuardDuty's and Security Hub's OCSF findings when a threshold is configured. */
export function casePatterns(guardDutyMinSeverity?: number): Record<string, object> {
    return {
        "tag-change": tagChangePattern(),
        ...(guardDutyMinSeverity === undefined ? {} : {
            guardduty: guardDutyPattern(guardDutyMinSeverity),
            "securityhub-findings": ocsfFindingsPattern(guardDutyMinSeverity),
        }),
    };
}
