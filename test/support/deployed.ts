/** The deployed callbacks of a rendered stack: shared with the drill, which lives in emulator/deploy/deployed.ts. */
export * from "../../emulator/deploy/deployed";
