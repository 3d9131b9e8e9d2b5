/** Case documents for specs of the response's steps. */
import { randomBytes } from "crypto";
import type { EngineSettings } from "../../functions/shared/settings";
import { CaseState } from "../../functions/shared/types";
import { DEFAULT_REGION } from "../../emulator/aws/aws-clients";
import { FORENSIC, MEMBER } from "./moto";

/** A fresh analyze case for an instance of the member account, as the state machine's Prepare state builds it. */
export function newCase(instanceId: string): CaseState {
    const openedAt = new Date().toISOString();
    return {
        caseId: `${MEMBER}-${DEFAULT_REGION}-${instanceId}-${openedAt.replace(/[-:]|\.\d+/g, "")}`,
        mode: "analyze",
        instance: { accountId: MEMBER, region: DEFAULT_REGION, instanceId },
        trigger: { source: "tag", requested: "analyze", eventId: randomBytes(8).toString("hex"), eventTime: openedAt },
        openedAt,
        steps: [],
        artifacts: [],
    };
}

/** Engine settings for specs of single steps (names as the member footprint uses them). */
export function stepSettings(evidence: { evidenceBucket: string; evidenceKeyArn: string }): EngineSettings {
    return {
        partition: "aws",
        ...evidence,
        casesTable: "irf-cases",
        topicArn: `arn:aws:sns:${DEFAULT_REGION}:${FORENSIC}:irf`,
        stateMachineArn: `arn:aws:states:${DEFAULT_REGION}:${FORENSIC}:stateMachine:irf-incident`,
        member: {
            responderRolePath: "/ir-forensics/", responderRoleName: "ir-forensics-responder", irProfileName: "ir-forensics-ir",
            containedProfileName: "ir-forensics-contained", protectedRolePathPrefix: "/ir-forensics/",
        },
        isolation: { enabled: true, fallbackHttpsEgress: "0.0.0.0/0" },
    };
}
