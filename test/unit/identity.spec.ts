import * as assert from "assert";
import { CloudTrailClient, LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import { mockClient } from "aws-sdk-client-mock";
import { MemberClientFactory, MemberClients } from "../../functions/shared/aws";
import { identifyTrigger, whoTagged } from "../../functions/response/identity";
import { CaseState } from "../../functions/shared/types";

const INSTANCE = { accountId: "444455556666", region: "eu-west-1", instanceId: "i-0123456789abcdef0" };

/** A CloudTrail CreateTags record as LookupEvents returns it. */
function createTags(arn: string, time: string, tags: Record<string, string>) {
    return {
        EventName: "CreateTags",
        EventTime: new Date(time),
        CloudTrailEvent: JSON.stringify({
            eventID: `ev-${time}`,
            eventTime: time,
            sourceIPAddress: "198.51.100.7",
            userAgent: "aws-cli/2",
            userIdentity: { type: "AssumedRole", arn, principalId: "AROA:x", accountId: INSTANCE.accountId },
            requestParameters: { resourcesSet: { items: [{ resourceId: INSTANCE.instanceId }] }, tagSet: { items: Object.entries(tags).map(([key, value]) => ({ key, value })) } },
        }),
    };
}

const caseState = (source: CaseState["trigger"]["source"]): CaseState => ({
    caseId: "c-1", mode: "analyze", instance: INSTANCE, openedAt: "2026-11-23T10:16:00Z", steps: [], artifacts: [],
    trigger: { source, requested: "analyze", eventId: "e", eventTime: "2026-11-23T10:15:30Z" },
});

describe("who set the incident tag (CloudTrail)", () => {
    const cloudtrail = new CloudTrailClient({ region: "eu-west-1", credentials: { accessKeyId: "x", secretAccessKey: "x" } });
    const mock = mockClient(cloudtrail);
    const factory: MemberClientFactory = async () => ({ cloudtrail } as unknown as MemberClients);
    afterEach(() => mock.reset());

    it("finds the latest CreateTags that set SecurityIncidentStatus, not the engine's own", async () => {
        mock.on(LookupEventsCommand).resolves({
            Events: [
                createTags("arn:aws:sts::444455556666:assumed-role/ir-forensics-responder/case", "2026-11-23T10:20:00Z", { SecurityIncidentStatus: "Contain" }),
                createTags("arn:aws:sts::444455556666:assumed-role/SOC-Responder/alice", "2026-11-23T10:15:29Z", { SecurityIncidentStatus: "Analyze" }),
                createTags("arn:aws:sts::444455556666:assumed-role/Dev/bob", "2026-11-23T10:10:00Z", { Owner: "bob" }),
                { EventName: "RunInstances", CloudTrailEvent: "{}" },
            ],
        });
        const who = await whoTagged(cloudtrail, INSTANCE, new Date("2026-11-23T09:15:30Z"), new Date(), "ir-forensics-responder");
        assert.strictEqual(who?.arn, "arn:aws:sts::444455556666:assumed-role/SOC-Responder/alice");
        assert.strictEqual(who?.value, "Analyze");
        assert.strictEqual(who?.sourceIPAddress, "198.51.100.7");
        const call = mock.commandCalls(LookupEventsCommand)[0].args[0].input;
        assert.deepStrictEqual(call.LookupAttributes, [{ AttributeKey: "ResourceName", AttributeValue: INSTANCE.instanceId }]);
    });

    it("records the identity on the trigger, or that CloudTrail has not delivered it yet, or the error", async () => {
        mock.on(LookupEventsCommand).resolves({ Events: [createTags("arn:aws:iam::444455556666:user/carol", "2026-11-23T10:15:29Z", { SecurityIncidentStatus: "analyze" })] });
        const found = await identifyTrigger(caseState("tag"), { member: factory, engineRoleName: "ir-forensics-responder" });
        assert.strictEqual((found.trigger.identity as any).cloudTrail.arn, "arn:aws:iam::444455556666:user/carol");

        mock.reset();
        mock.on(LookupEventsCommand).resolves({ Events: [] });
        const pending = await identifyTrigger(caseState("tag"), { member: factory, engineRoleName: "ir-forensics-responder" });
        assert.match((pending.trigger.identity as any).cloudTrail.notFound, /not .*yet|no CreateTags/);

        mock.reset();
        mock.on(LookupEventsCommand).rejects(Object.assign(new Error("User is not authorized to perform: cloudtrail:LookupEvents"), { name: "AccessDeniedException" }));
        const denied = await identifyTrigger(caseState("tag"), { member: factory, engineRoleName: "ir-forensics-responder" });
        assert.match((denied.trigger.identity as any).cloudTrail.error, /AccessDenied/);
    });

    it("leaves GuardDuty cases alone (the finding is the trigger)", async () => {
        const state = caseState("guardduty");
        assert.strictEqual(await identifyTrigger(state, { member: factory, engineRoleName: "ir-forensics-responder" }), state);
        assert.strictEqual(mock.commandCalls(LookupEventsCommand).length, 0);
    });
});
