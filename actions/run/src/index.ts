import * as core from "@actions/core";
import { STATE } from "./inputs.js";
import { cleanup, run } from "./main.js";

// action.yml points main and post at this file; the main step leaves a marker in the state file.
void (core.getState(STATE.isPost) === "true" ? cleanup() : run());
