// The JavaScript LangGraph SDK against Steward: create a thread, stream a run with
// messages-tuple until it stops at an interrupt, resume it (as a reviewer) through the stream
// endpoint with a command, and print what the SDK received as one JSON line.
// Usage: node stream_run.mjs API_URL ENGINEER_KEY REVIEWER_KEY
import { Client } from "@langchain/langgraph-sdk";

const [apiUrl, apiKey, reviewerKey] = process.argv.slice(2);
const engineer = new Client({ apiUrl, apiKey });
const reviewer = new Client({ apiUrl, apiKey: reviewerKey });

async function collect(stream) {
  const parts = [];
  for await (const part of stream) parts.push({ event: part.event, data: part.data });
  return parts;
}

const thread = await engineer.threads.create();
const first = await collect(
  engineer.runs.stream(thread.thread_id, "stream_ask", {
    input: { messages: [{ role: "user", content: "where is my order?" }] },
    streamMode: ["messages-tuple", "updates"],
  }),
);
const resumed = await collect(
  reviewer.runs.stream(thread.thread_id, "stream_ask", {
    command: { resume: "A-1001" },
    streamMode: ["messages-tuple"],
  }),
);
console.log(JSON.stringify({ thread_id: thread.thread_id, first, resumed }));
