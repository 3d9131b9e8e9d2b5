// Loaded by mocha before any spec (.mocharc.json "require").
import "../scripts/node-compat";
