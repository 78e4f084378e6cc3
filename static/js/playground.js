/* The playground page (templates/playground/playground.html): plain JavaScript, no build step.
 *
 * Talks to /ws/playground/<slug>/ (omni/playground/consumers.py): asks for the organization's
 * catalogue, generates a form from each tool's inputSchema, runs operations and shows the
 * request, progress, log and response events as they arrive. Server data is only ever put into
 * the page as text (textContent), never as HTML. The forms come from schema_form.js (loaded first).
 */
(function () {
  "use strict";

  const root = document.getElementById("playground");
  if (!root) return;

  const $ = (id) => document.getElementById(id);
  const canCall = root.dataset.canCall === "true";
  const historyUrl = root.dataset.historyUrl;
  const state = {
    ws: null,
    seq: 0,
    retry: 1000,
    tab: "tools",
    catalogue: { tools: [], prompts: [], resources: [], resourceTemplates: [] },
    tool: null,
    toolWidget: null,
    prompt: null,
    prefill: readPrefill(),
  };

  const forms = window.OmniSchemaForm;
  const el = forms.el;
  const build = forms.build;
  const wrapField = forms.wrapField;

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  function readPrefill() {
    const node = document.getElementById("pg-prefill");
    try {
      return node ? JSON.parse(node.textContent) : null;
    } catch (err) {
      return null;
    }
  }

  // ------------------------------------------------------------------ websocket
  function setStatus(text, kind) {
    const badge = $("pg-status");
    badge.textContent = text;
    badge.className = "badge" + (kind ? " status-" + kind : "");
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(scheme + "://" + location.host + root.dataset.wsPath);
    state.ws = ws;
    setStatus("connecting…", "");
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      handle(message);
    });
    ws.addEventListener("close", (event) => {
      if (event.code === 4403) {
        setStatus("not logged in: reload the page", "closed");
      } else if (event.code === 4404) {
        setStatus("not a member of this organization", "closed");
      } else {
        setStatus("disconnected: retrying…", "closed");
        setTimeout(connect, state.retry);
        state.retry = Math.min(state.retry * 2, 15000);
      }
    });
  }

  function send(message) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      showLocalError("Not connected to the playground yet.");
      return null;
    }
    state.seq += 1;
    const id = "m" + state.seq;
    const protocol = $("pg-protocol").value;
    const payload = Object.assign({ id: id }, message);
    if (protocol && payload.type !== "catalogue") payload.protocol = protocol;
    state.ws.send(JSON.stringify(payload));
    return id;
  }

  function run(operation, params) {
    return send({ type: "run", operation: operation, params: params });
  }

  function handle(message) {
    if (message.type === "ready") {
      state.retry = 1000;
      setStatus("connected", "open");
      send({ type: "catalogue" });
    } else if (message.type === "catalogue") {
      renderCatalogue(message);
    } else {
      showEvent(message);
    }
  }

  // ------------------------------------------------------------------ catalogue and lists
  function renderCatalogue(message) {
    for (const key of ["tools", "prompts", "resources", "resourceTemplates"]) {
      state.catalogue[key] = message[key] || [];
    }
    state.catalogue.unavailable = message.unavailable || {};
    state.catalogue.withheld = message.withheld || {};
    const errors = Object.entries(message.errors || {}).map(([key, text]) => key + ": " + text);
    $("pg-catalogue-errors").textContent = errors.join(" · ");
    $("pg-count-tools").textContent = state.catalogue.tools.length;
    $("pg-count-prompts").textContent = state.catalogue.prompts.length;
    $("pg-count-resources").textContent = state.catalogue.resources.length;
    renderLists();
    applyPrefill();
  }

  function matches(item, needle) {
    if (!needle) return true;
    const haystack = [item.name, item.title, item.description, item.uri, item.uriTemplate].join(" ").toLowerCase();
    return haystack.includes(needle);
  }

  function listButton(name, description, current, onclick) {
    return el(
      "li",
      {},
      el(
        "button",
        { type: "button", onclick: onclick, "aria-current": current ? "true" : "false" },
        el("span", { class: "pg-name", text: name }),
        description ? el("span", { class: "pg-desc", text: description, title: description }) : null
      )
    );
  }

  // The tools of a server that is down (tools/list withholds them): greyed, with the reason.
  function unavailableTools(needle) {
    const rows = [];
    const unavailable = state.catalogue.unavailable || {};
    const withheld = state.catalogue.withheld || {};
    for (const [server, reason] of Object.entries(unavailable)) {
      const names = withheld[server] && withheld[server].length ? withheld[server] : [server + "__*"];
      for (const name of names) {
        if (needle && !name.toLowerCase().includes(needle)) continue;
        rows.push(
          el(
            "li",
            { class: "pg-unavailable", "data-server": server },
            el(
              "button",
              { type: "button", disabled: "disabled", title: "unavailable: " + reason },
              el("span", { class: "pg-name", text: name }),
              el("span", { class: "pg-desc", text: "unavailable — " + reason })
            )
          )
        );
      }
    }
    return rows;
  }

  function renderLists() {
    const needle = $("pg-filter").value.trim().toLowerCase();
    const tools = state.catalogue.tools.filter((t) => matches(t, needle));
    $("pg-list-tools").replaceChildren(
      ...tools.map((tool) =>
        listButton(tool.name, tool.description, state.tool && state.tool.name === tool.name, () => selectTool(tool))
      ),
      ...unavailableTools(needle)
    );
    const prompts = state.catalogue.prompts.filter((p) => matches(p, needle));
    $("pg-list-prompts").replaceChildren(
      ...prompts.map((prompt) =>
        listButton(prompt.name, prompt.description, state.prompt && state.prompt.name === prompt.name, () =>
          selectPrompt(prompt)
        )
      )
    );
    const resources = state.catalogue.resources.filter((r) => matches(r, needle));
    $("pg-list-resource-items").replaceChildren(
      ...resources.map((resource) =>
        listButton(resource.uri, resource.title || resource.name, false, () => {
          $("pg-resource-uri").value = resource.uri;
          run("resources/read", { uri: resource.uri });
        })
      )
    );
    const templates = state.catalogue.resourceTemplates.filter((t) => matches(t, needle));
    $("pg-list-templates").replaceChildren(
      ...templates.map((template) =>
        listButton(template.uriTemplate, template.title || template.name, false, () => {
          const input = $("pg-resource-uri");
          input.value = template.uriTemplate;
          input.focus();
          const brace = template.uriTemplate.indexOf("{");
          if (brace >= 0) input.setSelectionRange(brace, template.uriTemplate.indexOf("}", brace) + 1);
        })
      )
    );
  }

  function showTab(tab) {
    state.tab = tab;
    for (const button of root.querySelectorAll("[data-tab]")) {
      button.setAttribute("aria-selected", button.dataset.tab === tab ? "true" : "false");
    }
    for (const list of root.querySelectorAll("[data-list]")) list.hidden = list.dataset.list !== tab;
    for (const panel of root.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== tab;
  }

  // ------------------------------------------------------------------ tools
  function selectTool(tool, values) {
    state.tool = tool;
    showTab("tools");
    $("pg-tool-title").textContent = tool.title || tool.name;
    $("pg-tool-desc").textContent = tool.description || "";
    $("pg-tool-schema").textContent = pretty(tool.inputSchema || {});
    $("pg-tool-form").hidden = false;
    $("pg-tool-error").textContent = "";
    renderToolForm(values);
    renderLists();
  }

  function renderToolForm(values) {
    const schema = state.tool.inputSchema || { type: "object" };
    state.toolWidget = build(schema, schema, { top: true, required: true, value: values });
    $("pg-tool-fields").replaceChildren(state.toolWidget.node);
    const raw = $("pg-raw-toggle").checked;
    $("pg-tool-fields").hidden = raw;
    $("pg-tool-raw").hidden = !raw;
    if (raw) {
      const got = state.toolWidget.get();
      $("pg-tool-raw").value = pretty(values !== undefined ? values : got.value || {});
    }
  }

  function currentArguments(lenient) {
    if ($("pg-raw-toggle").checked) {
      const parsed = JSON.parse($("pg-tool-raw").value || "{}");
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("The arguments must be a JSON object.");
      return parsed;
    }
    const got = state.toolWidget.get();
    if (got.error) {
      if (lenient) return {};
      throw new Error(got.error);
    }
    return got.value || {};
  }

  $("pg-raw-toggle").addEventListener("change", () => {
    if (!state.tool) return;
    const toRaw = $("pg-raw-toggle").checked;
    $("pg-tool-error").textContent = "";
    if (toRaw) {
      $("pg-raw-toggle").checked = false;
      const args = currentArguments(true);
      $("pg-raw-toggle").checked = true;
      $("pg-tool-raw").value = pretty(args);
      $("pg-tool-fields").hidden = true;
      $("pg-tool-raw").hidden = false;
    } else {
      let values;
      try {
        values = JSON.parse($("pg-tool-raw").value || "{}");
      } catch (err) {
        $("pg-raw-toggle").checked = true;
        $("pg-tool-error").textContent = "Fix the JSON first: " + err.message;
        return;
      }
      renderToolForm(values);
    }
  });

  $("pg-tool-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.tool || !canCall) return;
    let args;
    try {
      args = currentArguments(false);
    } catch (err) {
      $("pg-tool-error").textContent = err.message;
      return;
    }
    $("pg-tool-error").textContent = "";
    run("tools/call", { name: state.tool.name, arguments: args });
  });

  // ------------------------------------------------------------------ prompts, resources, console
  function selectPrompt(prompt, values) {
    state.prompt = prompt;
    showTab("prompts");
    $("pg-prompt-title").textContent = prompt.title || prompt.name;
    $("pg-prompt-desc").textContent = prompt.description || "";
    const given = values || {};
    const fields = (prompt.arguments || []).map((arg) => {
      const input = el("input", { type: "text", name: arg.name, "data-required": arg.required ? "true" : "false" });
      input.value = given[arg.name] || "";
      return wrapField(arg.name, { description: arg.description }, !!arg.required, input, "string");
    });
    $("pg-prompt-fields").replaceChildren(...(fields.length ? fields : [el("p", { class: "muted", text: "This prompt takes no arguments." })]));
    $("pg-prompt-form").hidden = false;
    renderLists();
  }

  $("pg-prompt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.prompt) return;
    const args = {};
    for (const input of $("pg-prompt-fields").querySelectorAll("input")) {
      if (input.value !== "") args[input.name] = input.value;
    }
    run("prompts/get", { name: state.prompt.name, arguments: args });
  });

  $("pg-resource-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const uri = $("pg-resource-uri").value.trim();
    if (uri) run("resources/read", { uri: uri });
  });

  $("pg-console-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("pg-console-params").value.trim();
    let params = null;
    if (text) {
      try {
        params = JSON.parse(text);
      } catch (err) {
        $("pg-console-error").textContent = "Params are not valid JSON: " + err.message;
        return;
      }
    }
    $("pg-console-error").textContent = "";
    run("jsonrpc", { method: $("pg-console-method").value.trim(), params: params });
  });

  // ------------------------------------------------------------------ events and results
  function badge(text, kind) {
    return el("span", { class: "badge" + (kind ? " " + kind : ""), text: text });
  }

  function details(summary, value) {
    return el("details", {}, el("summary", { class: "small muted", text: summary }), el("pre", { text: pretty(value) }));
  }

  function runLink(runId) {
    return runId ? el("a", { href: historyUrl + runId + "/", text: "stored run", class: "small" }) : null;
  }

  function showEvent(event) {
    const at = typeof event.at_ms === "number" ? event.at_ms.toFixed(1) + " ms" : "";
    const item = el("li", { class: "pg-event pg-event-" + event.type, "data-type": event.type }, el("span", { class: "pg-at", text: at }), " ", badge(event.type));
    if (event.type === "request") {
      const params = (event.request && event.request.params) || {};
      item.append(" ", el("code", { text: event.request.method }), " ", params.name || params.uri || "", " ", el("span", { class: "muted small", text: event.protocol }));
      item.append(details("request", event.request));
      $("pg-result").textContent = "Waiting for the answer…";
      $("pg-result-meta").replaceChildren();
      $("pg-validation").replaceChildren();
    } else if (event.type === "progress") {
      const bar = el("progress", { value: event.progress, max: event.total || undefined });
      item.append(" ", bar, " ", String(event.progress) + (event.total ? " / " + event.total : ""), " ", event.message || "");
    } else if (event.type === "log") {
      item.append(" ", badge(event.level || "info"), " ", event.logger ? event.logger + ": " : "", typeof event.data === "string" ? event.data : JSON.stringify(event.data));
    } else if (event.type === "response" || event.type === "error") {
      const outcome = event.outcome || "error";
      item.append(" ", badge(outcome, "outcome-" + outcome), " ", (event.duration_ms || 0).toFixed(1) + " ms ", runLink(event.run_id));
      if (event.error) item.append(" ", el("span", { class: "pg-error-text", text: event.error.code + ": " + event.error.message }));
      item.append(details(event.type, event.response || event.error));
      showResult(event);
    } else if (event.type === "invalid") {
      item.append(" ", el("span", { class: "pg-error-text", text: "Rejected (400): " + JSON.stringify(event.errors) }));
    } else if (event.type === "denied") {
      item.append(" ", el("span", { class: "pg-error-text", text: "Forbidden (403): " + event.detail }));
    }
    $("pg-events").append(item);
    $("pg-events-empty").hidden = true;
    item.scrollIntoView({ block: "nearest" });
  }

  function showResult(event) {
    const outcome = event.outcome || "error";
    $("pg-result-meta").replaceChildren(
      badge(outcome, "outcome-" + outcome),
      " " + (event.duration_ms || 0).toFixed(1) + " ms · " + (event.protocol || "") + " ",
      runLink(event.run_id)
    );
    const checks = Object.entries(event.validation || {}).map(([name, check]) => {
      const label = name === "schema" ? "MCP schema" : name === "output_schema" ? "Tool outputSchema" : name;
      const verdict = check.valid === true ? badge("valid", "outcome-ok") : check.valid === false ? badge("invalid", "outcome-invalid") : badge("not checked");
      return el(
        "li",
        {},
        el("strong", { text: label }),
        " ",
        verdict,
        " ",
        el("span", { class: "muted small", text: check.type || check.reason || "" }),
        check.errors && check.errors.length ? el("ul", { class: "errorlist" }, check.errors.map((e) => el("li", { text: e }))) : null
      );
    });
    $("pg-validation").replaceChildren(...checks);
    $("pg-result").textContent = pretty(event.response !== null && event.response !== undefined ? event.response : event.error);
  }

  function showLocalError(text) {
    showEvent({ type: "error", outcome: "error", error: { code: 0, message: text } });
  }

  // ------------------------------------------------------------------ a stored run, reopened
  function applyPrefill() {
    const prefill = state.prefill;
    if (!prefill) return;
    state.prefill = null;
    const request = prefill.request || {};
    const params = request.params || {};
    if (prefill.operation === "tools/call") {
      const tool = state.catalogue.tools.find((t) => t.name === params.name);
      if (tool) return selectTool(tool, params.arguments || {});
    } else if (prefill.operation === "prompts/get") {
      const prompt = state.catalogue.prompts.find((p) => p.name === params.name);
      if (prompt) return selectPrompt(prompt, params.arguments || {});
    } else if (prefill.operation === "resources/read") {
      showTab("resources");
      $("pg-resource-uri").value = params.uri || "";
      return;
    }
    showTab("console");
    $("pg-console-method").value = request.method || prefill.operation;
    $("pg-console-params").value = request.params ? pretty(request.params) : "";
  }

  // ------------------------------------------------------------------ wiring
  for (const button of root.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("pg-filter").addEventListener("input", renderLists);
  $("pg-refresh").addEventListener("click", () => send({ type: "catalogue" }));
  $("pg-clear").addEventListener("click", () => {
    $("pg-events").replaceChildren();
    $("pg-events-empty").hidden = false;
  });
  showTab("tools");
  connect();
})();
