/** The deployed callbacks of a rendered stack: shared with the drill, which lives in scripts/deployed.ts. */
export * from "../../scripts/deployed";
