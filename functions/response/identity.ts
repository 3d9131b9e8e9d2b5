/**
 * Who asked for the response. EventBridge's "Tag Change on Resource" events carry no identity, so the
 * case looks up CloudTrail's CreateTags event for the instance in its account and region. CloudTrail
 * delivers events within about 15 minutes: the lookup runs when the case closes, after acquisition,
 * and records "not found yet" when the event has not arrived.
 */
import { CloudTrailClient, LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import { MemberClientFactory, errorText, now } from "../shared/aws";
import { CaseState, InstanceRef, STATUS_TAG } from "../shared/types";

/** The human (or automation) that set the incident tag, as CloudTrail recorded it. */
export interface TagIdentity {
    arn?: string;
    type?: string;
    principalId?: string;
    accountId?: string;
    sourceIPAddress?: string;
    userAgent?: string;
    eventTime?: string;
    eventId?: string;
    /** The value set, e.g. Analyze. */
    value?: string;
}

interface CreateTagsRecord {
    eventID?: string;
    eventTime?: string;
    sourceIPAddress?: string;
    userAgent?: string;
    userIdentity?: { arn?: string; type?: string; principalId?: string; accountId?: string };
    requestParameters?: { tagSet?: { items?: Array<{ key?: string; value?: string }> } };
}

/**
 * The latest CreateTags call that set the incident tag on the instance between `since` and `until`,
 * leaving out the engine's own calls (its responder role sets `Contain`).
 */
export async function whoTagged(
    cloudtrail: CloudTrailClient, instance: InstanceRef, since: Date, until: Date, engineRoleName: string,
): Promise<TagIdentity | undefined> {
    const out = await cloudtrail.send(new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: "ResourceName", AttributeValue: instance.instanceId }],
        StartTime: since,
        EndTime: until,
        MaxResults: 50,
    }));
    const found = (out.Events ?? [])
        .filter((e) => e.EventName === "CreateTags" && e.CloudTrailEvent)
        .map((e) => JSON.parse(e.CloudTrailEvent ?? "{}") as CreateTagsRecord)
        .map((r) => ({ r, tag: r.requestParameters?.tagSet?.items?.find((t) => t.key === STATUS_TAG) }))
        .filter(({ r, tag }) => tag && !(r.userIdentity?.arn ?? "").includes(`/${engineRoleName}/`))
        .sort((a, b) => (b.r.eventTime ?? "").localeCompare(a.r.eventTime ?? ""))[0];
    if (!found) {
        return undefined;
    }
    const { r, tag } = found;
    return {
        arn: r.userIdentity?.arn,
        type: r.userIdentity?.type,
        principalId: r.userIdentity?.principalId,
        accountId: r.userIdentity?.accountId,
        sourceIPAddress: r.sourceIPAddress,
        userAgent: r.userAgent,
        eventTime: r.eventTime,
        eventId: r.eventID,
        value: tag?.value,
    };
}

/**
 * Adds CloudTrail's answer to the case's trigger (`trigger.identity.cloudTrail`), or why there is none.
 * Never throws: a missing identity must not stop the case from closing.
 */
export async function identifyTrigger(
    state: CaseState, deps: { member: MemberClientFactory; engineRoleName: string; lookbackMinutes?: number },
): Promise<CaseState> {
    const opened = Date.parse(state.trigger.eventTime || state.openedAt) || Date.now();
    let cloudTrail: TagIdentity | { notFound: string } | { error: string };
    if (state.trigger.source !== "tag" && state.trigger.source !== "securityhub") {
        return state;
    }
    try {
        const { cloudtrail } = await deps.member(state.instance, `${state.caseId}-identity`);
        if (!cloudtrail) {
            throw new Error("no CloudTrail client for the member account");
        }
        const since = new Date(opened - (deps.lookbackMinutes ?? 60) * 60_000);
        cloudTrail = await whoTagged(cloudtrail, state.instance, since, new Date(), deps.engineRoleName)
            ?? { notFound: `no CreateTags event for ${STATUS_TAG} in CloudTrail yet (checked ${now()})` };
    } catch (err) {
        cloudTrail = { error: errorText(err) };
    }
    return { ...state, trigger: { ...state.trigger, identity: { ...state.trigger.identity, cloudTrail } } };
}
