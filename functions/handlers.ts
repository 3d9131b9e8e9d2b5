/**
 * Lambda entry points of the engine, one `callbackFactory` each: they run once per container, read the
 * deployed settings, build the SDK clients and return the handler that calls a plain function of this
 * folder. Nothing here holds a client at module level (Pulumi serializes what a callback references).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import { assumingMemberClients, RuntimeSettings } from "./aws";
import { openCase } from "./cases";
import { contain } from "./containment";
import { isolate } from "./isolation";
import { identifyTrigger } from "./identity";
import { closeCase, recordCase } from "./record";
import { settingsFromEnvironment } from "./runtime";
import { tagFromFinding } from "./securityHub";
import { postToSlack } from "./slack";
import { triage } from "./triage";
import { CaseState } from "./types";

type Handler<E, R> = (event: E, context: unknown) => Promise<R>;

export function openCaseHandler(): Handler<unknown, unknown> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = {
        dynamodb: new DynamoDBClient({}),
        sfn: new SFNClient({}),
        sns: new SNSClient({}),
        settings,
        memberAccounts: settings.memberAccounts,
        guardDutyMinSeverity: settings.guardDutyMinSeverity,
    };
    return async (event) => openCase(event, deps);
}

export function triageHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { member: assumingMemberClients(new STSClient({}), settings), s3: new S3Client({ region: settings.evidenceRegion }), settings };
    return async (state) => triage(state, deps);
}

export function isolateHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { member: assumingMemberClients(new STSClient({}), settings), sns: new SNSClient({}), settings };
    return async (state) => isolate(state, deps);
}

export function recordHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { s3: new S3Client({ region: settings.evidenceRegion }), settings };
    return async (state) => recordCase(state, deps);
}

export function containHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = {
        member: assumingMemberClients(new STSClient({}), settings),
        dynamodb: new DynamoDBClient({}),
        sns: new SNSClient({}),
        settings,
    };
    return async (state) => contain(state, deps);
}

export function closeHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { s3: new S3Client({ region: settings.evidenceRegion }), dynamodb: new DynamoDBClient({}), sns: new SNSClient({}), settings };
    const identity = { member: assumingMemberClients(new STSClient({}), settings), engineRoleName: settings.member.responderRoleName };
    // Who set the tag: CloudTrail has usually delivered the event by the time the case closes.
    return async (state) => closeCase(await identifyTrigger(state, identity), deps);
}

export function securityHubHandler(): Handler<unknown, unknown> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    if (!settings.securityHubActions) {
        throw new Error("securityHubActions missing from the settings");
    }
    const deps = { member: assumingMemberClients(new STSClient({}), settings), actions: settings.securityHubActions };
    return async (event) => tagFromFinding(event, deps);
}

export function slackHandler(): Handler<unknown, unknown> {
    const { webhookUrl } = settingsFromEnvironment<{ webhookUrl: string }>();
    return async (event) => postToSlack(event as Parameters<typeof postToSlack>[0], { webhookUrl });
}
