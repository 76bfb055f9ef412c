#!/usr/bin/env node
// An example lineage analyst in JavaScript (Node, no packages): the protocol is language-neutral.
//
//     lineage attach CAMPAIGN --exec 'node examples/new_best.js' --name new-best
//
// Protocol 1 (docs/analysts.md): one JSON object per line in; after each `event`, any number of
// `insight` / `analysis` lines out, then `done` with that event's `seq`. This one records an
// insight each time an exploration fitness beats the best so far, citing the fitness event.
// `history` (events before its starting point, after a restart) rebuilds the best without
// answering.
"use strict";

const readline = require("readline");

let best = null; // { arch, total }

function send(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function onEvent(event, answer) {
  if (event.type !== "FitnessAssigned" || event.payload.stage !== "exploration") return;
  const { arch, total } = event.payload;
  const previous = best;
  if (previous !== null && total <= previous.total) return;
  best = { arch, total };
  if (!answer || previous === null) return;
  send({
    type: "insight",
    kind: "new-best",
    text: `${arch} is the new best: fitness ${total.toFixed(4)}, up ${(total - previous.total).toFixed(4)} on ${previous.arch}`,
    confidence: 1,
    data: { fitness: total, gain: total - previous.total },
    cites: [event.id],
  });
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.type === "history") onEvent(message.event, false);
  if (message.type === "event") {
    onEvent(message.event, true);
    send({ type: "done", seq: message.event.seq });
  }
});
