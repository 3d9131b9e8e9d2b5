// Mocha's spec reporter, followed by one closing line that CI reads: "N passed, M failed".
"use strict";
const Mocha = require("mocha");

class TotalsReporter extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
            const { passes = 0, failures = 0, pending = 0 } = this.stats;
            console.log(`${passes} passed, ${failures} failed${pending > 0 ? `, ${pending} skipped` : ""}`);
        });
    }
}

module.exports = TotalsReporter;
