/**
 * parseTrigger: which events open a case, which are reported and left alone, and which are rejected.
 * Pure: no AWS.
 */
import * as assert from "assert";
import { DETAIL_INSTANCE_ID, ocsfSeverityFloor, ParsedTrigger, parseInstanceArn, parseTrigger, TriggerPolicy } from "../../functions/response/events";
import { InstanceRef, STATUS_TAG } from "../../functions/shared/types";
import { EVENT_TIME, guardDutyEvent, instanceId, ocsfFindingEvent, tagEvent } from "../support/events";

const MEMBER = "444455556666";
const POLICY: TriggerPolicy = { memberAccounts: [MEMBER, "555566667777"], guardDutyMinSeverity: 7 };

function ref(extra: Partial<InstanceRef> = {}): InstanceRef {
    return { accountId: MEMBER, region: "eu-west-1", instanceId: instanceId(), ...extra };
}

function expectKind<K extends ParsedTrigger["kind"]>(parsed: ParsedTrigger, kind: K): Extract<ParsedTrigger, { kind: K }> {
    assert.strictEqual(parsed.kind, kind, JSON.stringify(parsed));
    return parsed as Extract<ParsedTrigger, { kind: K }>;
}

/** The event as moto forwards it to another bus: no `resources`, no `account`. */
function forwardedByMoto(event: Record<string, any>): Record<string, any> {
    const { resources: _r, account: _a, ...rest } = event;
    return rest;
}

describe("parseTrigger", function () {
    describe("tag changes", function () {
        it("Analyze opens an analyze case with the instance from the ARN and the event's id and time", function () {
            const r = ref();
            const event = tagEvent(r, "Analyze");
            const parsed = expectKind(parseTrigger(event, POLICY), "trigger");
            assert.deepStrictEqual(parsed.instance, r);
            assert.deepStrictEqual(parsed.trigger, { eventId: event.id, eventTime: EVENT_TIME, source: "tag", requested: "analyze", rawValue: "Analyze" });
        });

        for (const [value, requested] of [["analyze", "analyze"], ["ANALYZE", "analyze"], ["AnAlYzE", "analyze"], [" Contain\t", "contain"], ["contain", "contain"], ["CONTAIN", "contain"]]) {
            it(`value ${JSON.stringify(value)} → ${requested}, raw value kept`, function () {
                const parsed = expectKind(parseTrigger(tagEvent(ref(), value), POLICY), "trigger");
                assert.strictEqual(parsed.trigger.requested, requested);
                assert.strictEqual(parsed.trigger.rawValue, value);
            });
        }

        for (const value of ["", "Analyse", "analyze now", "Contained", "true"]) {
            it(`value ${JSON.stringify(value)} is ignored and reported with its raw value`, function () {
                const r = ref();
                const parsed = expectKind(parseTrigger(tagEvent(r, value), POLICY), "ignored");
                assert.strictEqual(parsed.rawValue, value);
                assert.deepStrictEqual(parsed.instance, r);
            });
        }

        it("a removed tag is ignored, without a raw value (nothing to report)", function () {
            const parsed = expectKind(parseTrigger(tagEvent(ref(), undefined), POLICY), "ignored");
            assert.strictEqual(parsed.rawValue, undefined);
            assert.match(parsed.reason, /removed/);
        });

        it("a change of other tags only is ignored", function () {
            const event = tagEvent(ref(), "Analyze");
            event.detail["changed-tag-keys"] = ["Name"];
            expectKind(parseTrigger(event, POLICY), "ignored");
        });

        it("a tag change on something other than an EC2 instance is ignored", function () {
            const event = tagEvent(ref(), "Analyze");
            event.detail["resource-type"] = "volume";
            expectKind(parseTrigger(event, POLICY), "ignored");
        });

        it("an event forwarded without resources still works from account, region and the detail's instance id", function () {
            const r = ref();
            const event = tagEvent(r, "Analyze");
            delete event.resources;
            event.detail[DETAIL_INSTANCE_ID] = r.instanceId;
            assert.deepStrictEqual(expectKind(parseTrigger(event, POLICY), "trigger").instance, r);
        });

        it("an event that lost both resources and account (moto's bus forwarding) is rejected", function () {
            const parsed = expectKind(parseTrigger(forwardedByMoto(tagEvent(ref(), "Analyze")), POLICY), "rejected");
            assert.match(parsed.reason, /neither an instance ARN nor an account/);
        });

        it("an event whose account contradicts the instance ARN is rejected", function () {
            const event = tagEvent(ref(), "Analyze");
            event.account = "555566667777";
            expectKind(parseTrigger(event, POLICY), "rejected");
        });

        const rejections: [string, (e: Record<string, any>) => void, RegExp][] = [
            ["a foreign account", (e) => { e.resources = [e.resources[0].replace(MEMBER, "123456789012")]; e.account = "123456789012"; }, /not a member account/],
            ["a malformed account", (e) => { e.resources = [e.resources[0].replace(MEMBER, "4444")]; e.account = "4444"; }, /malformed account/],
            ["a malformed instance id", (e) => { e.resources = [e.resources[0].replace(/i-[0-9a-f]+$/, "i-12345")]; }, /malformed instance id/],
            ["an upper-case instance id", (e) => { e.resources = [e.resources[0].replace(/i-([0-9a-f]+)$/, (_m: string, h: string) => `i-${h.toUpperCase()}A`)]; }, /malformed instance id/],
            ["a malformed region", (e) => { e.resources = [e.resources[0].replace("eu-west-1", "Europe")]; }, /malformed region/],
            ["a resource that is not an instance ARN", (e) => { e.resources = ["arn:aws:s3:::bucket"]; }, /not an EC2 instance ARN/],
        ];
        for (const [what, mutate, reason] of rejections) {
            it(`${what} is rejected`, function () {
                const event = tagEvent(ref(), "Analyze");
                mutate(event);
                assert.match(expectKind(parseTrigger(event, POLICY), "rejected").reason, reason);
            });
        }

        it("a foreign account is rejected even when the tag value would be ignored", function () {
            const event = tagEvent(ref({ accountId: "123456789012" }), "whatever");
            expectKind(parseTrigger(event, POLICY), "rejected");
        });
    });

    describe("GuardDuty findings", function () {
        it("at or above the threshold: an analyze trigger carrying the finding, for the member named in the finding", function () {
            const r = ref();
            const event = guardDutyEvent(r, 7);
            const parsed = expectKind(parseTrigger(event, POLICY), "trigger");
            assert.deepStrictEqual(parsed.instance, r);
            assert.strictEqual(parsed.trigger.source, "guardduty");
            assert.strictEqual(parsed.trigger.requested, "analyze");
            assert.strictEqual(parsed.trigger.finding, event.detail);
        });

        it("below the threshold, with GuardDuty off, or a sample finding: ignored", function () {
            expectKind(parseTrigger(guardDutyEvent(ref(), 6.9), POLICY), "ignored");
            expectKind(parseTrigger(guardDutyEvent(ref(), 9), { memberAccounts: [MEMBER] }), "ignored");
            const sample = guardDutyEvent(ref(), 9);
            sample.detail.service.additionalInfo.sample = true;
            assert.match(expectKind(parseTrigger(sample, POLICY), "ignored").reason, /sample/);
        });

        it("a finding on something other than an instance is ignored", function () {
            const event = guardDutyEvent(ref(), 9);
            event.detail.resource = { resourceType: "AccessKey", accessKeyDetails: {} };
            expectKind(parseTrigger(event, POLICY), "ignored");
        });

        it("a finding for a foreign account or a malformed instance is rejected", function () {
            expectKind(parseTrigger(guardDutyEvent(ref({ accountId: "123456789012" }), 9), POLICY), "rejected");
            expectKind(parseTrigger(guardDutyEvent(ref({ instanceId: "i-99" }), 9), POLICY), "rejected");
        });
    });

    describe("Security Hub OCSF findings (Findings Imported V2)", function () {
        it("at or above the OCSF band of the GuardDuty threshold: an analyze trigger for the instance the finding names", function () {
            const r = ref();
            for (const uid of ["arn", "id"] as const) {
                const parsed = expectKind(parseTrigger(ocsfFindingEvent(r, 4, { uid }), POLICY), "trigger");
                assert.deepStrictEqual(parsed.instance, r, uid);
                assert.strictEqual(parsed.trigger.source, "securityhub");
                assert.strictEqual(parsed.trigger.requested, "analyze");
                assert.deepStrictEqual((parsed.trigger.finding as any).product, "GuardDuty");
                assert.strictEqual((parsed.trigger.finding as any).severityId, 4);
            }
        });

        it("maps GuardDuty's bands onto OCSF severity ids", function () {
            assert.deepStrictEqual([1, 4, 6.9, 7, 8.9, 9].map(ocsfSeverityFloor), [2, 3, 3, 4, 4, 5]);
        });

        it("below the band, or with the finding trigger off: ignored", function () {
            expectKind(parseTrigger(ocsfFindingEvent(ref(), 3), POLICY), "ignored");
            expectKind(parseTrigger(ocsfFindingEvent(ref(), 5), { memberAccounts: [MEMBER] }), "ignored");
        });

        it("a finding on something other than an instance is ignored", function () {
            assert.match(expectKind(parseTrigger(ocsfFindingEvent(ref(), 5, { type: "AWS::IAM::AccessKey" }), POLICY), "ignored").reason, /not an EC2 instance/);
        });

        it("a finding for a foreign account, a malformed instance or an event of several findings is rejected", function () {
            expectKind(parseTrigger(ocsfFindingEvent(ref({ accountId: "123456789012" }), 5), POLICY), "rejected");
            expectKind(parseTrigger(ocsfFindingEvent(ref({ instanceId: "i-99" }), 5, { uid: "id" }), POLICY), "rejected");
            const contradicting = ocsfFindingEvent(ref(), 5);
            contradicting.detail.findings[0].cloud.account.uid = "123456789012";
            assert.match(expectKind(parseTrigger(contradicting, POLICY), "rejected").reason, /differs from the instance ARN/);
            const two = ocsfFindingEvent(ref(), 5);
            two.detail.findings.push(two.detail.findings[0]);
            expectKind(parseTrigger(two, POLICY), "rejected");
        });
    });

    describe("anything else", function () {
        const hostile = { get source(): string { throw new Error("no"); } };
        for (const [what, event] of [
            ["undefined", undefined], ["null", null], ["a string", STATUS_TAG], ["an array", [1]], ["an empty object", {}],
            ["another source", { "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification" }],
            ["a tag source with another detail-type", { "source": "aws.tag", "detail-type": "Something" }],
            ["an object whose getters throw", hostile],
        ] as [string, unknown][]) {
            it(`${what} is rejected without throwing`, function () {
                expectKind(parseTrigger(event, POLICY), "rejected");
            });
        }
    });

    it("parseInstanceArn reads the parts of an instance ARN in any partition", function () {
        assert.deepStrictEqual(parseInstanceArn("arn:aws-us-gov:ec2:us-gov-west-1:444455556666:instance/i-0123456789abcdef0"),
            { region: "us-gov-west-1", accountId: "444455556666", instanceId: "i-0123456789abcdef0" });
        assert.strictEqual(parseInstanceArn("arn:aws:ec2:eu-west-1:444455556666:volume/vol-1"), undefined);
        assert.strictEqual(parseInstanceArn(42), undefined);
    });
});
