#!/usr/bin/env node
// The `kvmscope` command (npx kvmscope after npm install at the repository root).
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv.slice(2));
