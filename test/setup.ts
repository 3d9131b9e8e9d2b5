// Loaded by mocha before any spec (.mocharc.json "require").
import "../emulator/node-compat";
