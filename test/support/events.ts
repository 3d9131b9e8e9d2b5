/**
 * EventBridge events as the engine receives them, for specs: the member rule's tag-change event (as AWS
 * delivers it, or as moto forwards it: without `resources` and `account`), GuardDuty findings and
 * Security Hub custom actions.
 */
import { randomBytes } from "crypto";
import { InstanceRef, STATUS_TAG } from "../../functions/shared/types";

export const EVENT_TIME = "2026-11-23T10:15:30Z";

/** A fresh, well-formed instance id (17 hex digits). */
export function instanceId(): string {
    return `i-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

export function instanceArn(ref: InstanceRef): string {
    return `arn:aws:ec2:${ref.region}:${ref.accountId}:instance/${ref.instanceId}`;
}

/** The EventBridge envelope around `detail`, with a fresh event id. */
function envelope(source: string, detailType: string, account: string, region: string, resources: string[], detail: Record<string, any>): Record<string, any> {
    return { "version": "0", "id": `ev-${randomBytes(6).toString("hex")}`, "detail-type": detailType, source, account, "time": EVENT_TIME, region, resources, detail };
}

/** A tag change of SecurityIncidentStatus to `value` (undefined: the tag was removed). */
export function tagEvent(ref: InstanceRef, value: string | undefined, extra: { otherTags?: Record<string, string> } = {}): Record<string, any> {
    const tags: Record<string, string> = { Name: "web-1", ...extra.otherTags };
    if (value !== undefined) {
        tags[STATUS_TAG] = value;
    }
    return envelope("aws.tag", "Tag Change on Resource", ref.accountId, ref.region, [instanceArn(ref)],
        { "changed-tag-keys": [STATUS_TAG], "service": "ec2", "resource-type": "instance", "version": 3, tags });
}

export function guardDutyEvent(ref: InstanceRef, severity: number, adminAccount = "999988887777"): Record<string, any> {
    // Delivered in the GuardDuty administrator account: the finding names the member account.
    return envelope("aws.guardduty", "GuardDuty Finding", adminAccount, ref.region, [], {
        schemaVersion: "2.0",
        accountId: ref.accountId,
        region: ref.region,
        partition: "aws",
        id: randomBytes(16).toString("hex"),
        type: "Backdoor:EC2/C&CActivity.B!DNS",
        severity,
        resource: { resourceType: "Instance", instanceDetails: { instanceId: ref.instanceId, instanceType: "t3.micro" } },
        service: { serviceName: "guardduty", additionalInfo: {} },
    });
}

/**
 * A `Findings Imported V2` event of AWS Security Hub, delivered in its administrator account: the envelope
 * of https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-v2-cwe-event-formats.html (one
 * finding per event, `resources` holding a hash), the finding an OCSF Detection Finding (class 2004) as
 * GuardDuty's are routed: the instance in `resources[]` by type `AWS::EC2::Instance`, the member account in
 * `cloud.account.uid`. `uid: "id"` names the instance by id (the resource's `owner` and `region` then say
 * where) instead of by ARN.
 */
export function ocsfFindingEvent(ref: InstanceRef, severityId: number, options: { uid?: "arn" | "id"; type?: string; adminAccount?: string } = {}): Record<string, any> {
    const arn = `arn:aws:ec2:${ref.region}:${ref.accountId}:instance/${ref.instanceId}`;
    return envelope("aws.securityhub", "Findings Imported V2", options.adminAccount ?? "999988887777", ref.region, [randomBytes(32).toString("hex")], {
        findings: [{
            activity_id: 1,
            category_uid: 2,
            class_uid: 2004,
            class_name: "Detection Finding",
            type_uid: 200401,
            severity_id: severityId,
            severity: ["Unknown", "Informational", "Low", "Medium", "High", "Critical", "Fatal"][severityId] ?? "Other",
            status_id: 1,
            time: Date.parse(EVENT_TIME),
            cloud: { provider: "AWS", region: ref.region, account: { uid: ref.accountId, type: "AWS Account" } },
            finding_info: {
                uid: `arn:aws:guardduty:${ref.region}:${ref.accountId}:detector/d1/finding/${randomBytes(16).toString("hex")}`,
                title: "EC2 instance is communicating with a known command and control server",
                types: ["Backdoor:EC2/C&CActivity.B!DNS"],
            },
            metadata: { version: "1.5.0", product: { name: "GuardDuty", vendor_name: "AWS", uid: "arn:aws:securityhub:::product/aws/guardduty" } },
            resources: [
                {
                    type: options.type ?? "AWS::EC2::Instance", uid: options.uid === "id" ? ref.instanceId : arn, region: ref.region, cloud_partition: "aws",
                    owner: { account: { uid: ref.accountId } },
                },
            ],
        }],
    });
}

/** A Security Hub custom action event for `findings` (each a list of ASFF resources). */
export function customActionEvent(actionId: string, findings: { Type: string; Id: string }[][], account = "222233334444"): Record<string, any> {
    return envelope("aws.securityhub", "Security Hub Findings - Custom Action", account, "eu-west-1", [`arn:aws:securityhub:eu-west-1:${account}:action/custom/${actionId}`], {
        actionName: actionId,
        actionDescription: "test action",
        findings: findings.map((resources, i) => ({ Id: `finding-${i}`, AwsAccountId: account, Resources: resources })),
    });
}
