// The charrnn tab. TensorBoard loads this module into the tab's frame and calls render(); every
// URL below is relative to the plugin's routes (charrnn/dashboard/plugin.py).

const NUMBER_FIELDS = ["length", "temperature", "top_k", "top_p", "sample", "seed", "num_samples"];

export async function render() {
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = "./static/style.css";
  document.head.append(style);
  document.body.innerHTML = await (await fetch("./static/panel.html")).text();

  const form = document.getElementById("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    generate(form);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.getElementById("refresh").addEventListener("click", () => showRuns(form));
  await showRuns(form);
}

function describe(checkpoint, lossName) {
  if (!checkpoint) return "none yet";
  const loss = checkpoint.best_val_loss === null ? "" : `, ${lossName} ${checkpoint.best_val_loss.toFixed(4)}`;
  return `step ${checkpoint.step}${loss}, ${new Date(checkpoint.saved_at * 1000).toLocaleString()}`;
}

async function showRuns(form) {
  const { runs } = await (await fetch("./runs")).json();
  const rows = document.querySelector("#runs tbody");
  rows.replaceChildren();
  for (const run of runs) {
    const row = rows.insertRow();
    for (const text of [run.name, describe(run.latest, "best val so far"), describe(run.best, "val")]) {
      row.insertCell().textContent = text;
    }
  }
  const select = field(form, "run");
  const chosen = select.value;
  select.replaceChildren(...runs.map((run) => new Option(run.name, run.name)));
  if (runs.some((run) => run.name === chosen)) select.value = chosen;
}

// namedItem, not form.elements[name]: the collection's own "length" would shadow that field.
const field = (form, name) => form.elements.namedItem(name);

function request(form) {
  const body = Object.fromEntries(["run", "checkpoint", "prime"].map((name) => [name, field(form, name).value]));
  for (const name of NUMBER_FIELDS) {
    const text = field(form, name).value.trim();
    if (text !== "") body[name] = Number(text);  // the server judges the value and says what is wrong
  }
  return body;
}

function showMessage(text) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.hidden = !text;
}

// One box per sample, holding the prime and the text as it comes, and the command that prints it.
function sampleBoxes(prime, commands) {
  const samples = document.getElementById("samples");
  samples.replaceChildren();
  return commands.map((command) => {
    const figure = document.createElement("figure");
    const text = document.createElement("pre");
    text.className = "sample";
    text.textContent = prime;
    const caption = document.createElement("figcaption");
    caption.append(document.createElement("code"));
    caption.firstChild.textContent = command;
    figure.append(text, caption);
    samples.append(figure);
    return text;
  });
}

async function generate(form) {
  const button = document.getElementById("generate");
  const status = document.getElementById("status");
  const body = request(form);
  showMessage("");
  button.disabled = true;
  status.textContent = "generating…";
  try {
    const response = await fetch("./generate", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) {
      const answer = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
      showMessage(answer.error);
      status.textContent = "";
      return;
    }
    let boxes = [];
    let pending = "";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      let end;
      while ((end = pending.indexOf("\n")) >= 0) {
        const line = JSON.parse(pending.slice(0, end));
        pending = pending.slice(end + 1);
        if (line.commands) boxes = sampleBoxes(body.prime, line.commands);
        if (line.chunk) line.chunk.forEach((text, i) => boxes[i].append(text));
        if (line.error) showMessage(line.error);
        if (line.done) status.textContent = `${boxes.length} × ${body.length ?? 500} characters in ${line.seconds} s`;
      }
    }
  } catch (error) {
    showMessage(`the request failed: ${error.message}`);
    status.textContent = "";
  } finally {
    button.disabled = false;
  }
}
