/* Forms generated from JSON Schema (a tool's inputSchema) for the playground: plain JavaScript,
 * no build step, loaded before static/js/playground.js. ``OmniSchemaForm.build(schema, root, opts)``
 * returns a widget ``{node, get()}``; ``get()`` answers ``{present, value}`` or ``{error}``.
 *
 * Handles strings, numbers, integers, booleans, enums, const, nested objects, arrays (of anything,
 * with add/remove), ``$ref`` into ``$defs``/``definitions``, optional fields (``anyOf [X, null]``,
 * ``type: [X, "null"]``), required markers and defaults; anything else is a JSON text field.
 * Values are only ever put into the page as text, never as HTML.
 */
(function () {
  "use strict";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  function lookup(rootSchema, ref) {
    if (typeof ref !== "string" || !ref.startsWith("#/")) return null;
    let node = rootSchema;
    for (const part of ref.slice(2).split("/")) {
      const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
      if (!node || typeof node !== "object" || !(key in node)) return null;
      node = node[key];
    }
    return node;
  }

  function normalise(schema, rootSchema) {
    let s = schema && typeof schema === "object" ? schema : {};
    for (let guard = 0; s.$ref && guard < 20; guard += 1) {
      const target = lookup(rootSchema, s.$ref) || {};
      const rest = Object.assign({}, s);
      delete rest.$ref;
      s = Object.assign({}, target, rest);
    }
    const alternatives = s.anyOf || s.oneOf;
    if (Array.isArray(alternatives)) {
      const real = alternatives.map((a) => normalise(a, rootSchema)).filter((a) => a.type !== "null");
      if (real.length === 1) {
        const merged = Object.assign({}, real[0]);
        for (const key of ["title", "description", "default"]) if (key in s) merged[key] = s[key];
        merged.nullable = true;
        return merged;
      }
    }
    if (Array.isArray(s.type)) {
      const types = s.type.filter((t) => t !== "null");
      if (types.length === 1) return Object.assign({}, s, { type: types[0], nullable: true });
    }
    return s;
  }

  function kindOf(s) {
    if (Array.isArray(s.enum)) return "enum";
    if ("const" in s) return "const";
    if (s.type === "object" || (!s.type && s.properties)) return s.properties ? "object" : "json";
    if (["string", "integer", "number", "boolean", "array"].includes(s.type)) return s.type;
    return "json";
  }

  const ABSENT = { present: false };
  let fieldSeq = 0;

  function wrapField(label, s, required, control, kind) {
    fieldSeq += 1;
    const id = "pg-f" + fieldSeq;
    if (control.id === "") control.id = id;
    return el(
      "div",
      { class: "field" },
      el(
        "label",
        { for: control.id },
        label,
        required ? el("span", { class: "req", title: "required", text: "*" }) : null,
        el("span", { class: "type", text: kind === "json" ? "JSON" : kind })
      ),
      control,
      s.description ? el("div", { class: "help", text: s.description }) : null
    );
  }

  // A widget is {node, get()}: get() returns {present, value} or {error}.
  function build(schema, rootSchema, opts) {
    const s = normalise(schema, rootSchema);
    const kind = kindOf(s);
    const label = opts.label || s.title || opts.name || "value";
    const required = !!opts.required;
    const initial = opts.value !== undefined ? opts.value : s.default;
    const where = opts.path || label;

    if (kind === "object") return buildObject(s, rootSchema, opts, label, required, initial);
    if (kind === "array") return buildArray(s, rootSchema, opts, label, required, initial);

    if (kind === "const") {
      return { node: el("div", { class: "help", text: label + " = " + JSON.stringify(s.const) }), get: () => ({ present: true, value: s.const }) };
    }
    if (kind === "enum") {
      const select = el("select", { name: opts.name });
      if (!required) select.append(el("option", { value: "", text: "(not set)" }));
      s.enum.forEach((value, index) => {
        select.append(el("option", { value: String(index), text: JSON.stringify(value), selected: initial !== undefined && JSON.stringify(initial) === JSON.stringify(value) }));
      });
      return {
        node: wrapField(label, s, required, select, "enum"),
        get: () => (select.value === "" ? ABSENT : { present: true, value: s.enum[Number(select.value)] }),
      };
    }
    if (kind === "boolean") {
      const select = el(
        "select",
        { name: opts.name },
        required ? null : el("option", { value: "", text: "(not set)" }),
        el("option", { value: "true", text: "true", selected: initial === true }),
        el("option", { value: "false", text: "false", selected: initial === false || (required && initial === undefined) })
      );
      return {
        node: wrapField(label, s, required, select, "boolean"),
        get: () => (select.value === "" ? ABSENT : { present: true, value: select.value === "true" }),
      };
    }
    if (kind === "integer" || kind === "number") {
      const input = el("input", {
        type: "number",
        name: opts.name,
        step: kind === "integer" ? "1" : "any",
        min: s.minimum,
        max: s.maximum,
        value: initial === undefined || initial === null ? "" : String(initial),
      });
      return {
        node: wrapField(label, s, required, input, kind),
        get: () => {
          if (input.value === "") return required ? { error: where + ": required" } : ABSENT;
          const value = Number(input.value);
          if (Number.isNaN(value)) return { error: where + ": not a number" };
          if (kind === "integer" && !Number.isInteger(value)) return { error: where + ": not an integer" };
          return { present: true, value: value };
        },
      };
    }
    if (kind === "string") {
      const long = (s.maxLength || 0) > 1000 || /text|body|content|csv|json|code|query/i.test(opts.name || "");
      const input = long
        ? el("textarea", { name: opts.name, rows: 4 })
        : el("input", { type: "text", name: opts.name, placeholder: s.format || s.pattern || "" });
      input.value = initial === undefined || initial === null ? "" : String(initial);
      return {
        node: wrapField(label, s, required, input, s.format ? "string · " + s.format : "string"),
        get: () => (input.value === "" && !required ? ABSENT : { present: true, value: input.value }),
      };
    }
    // anything else (free-form objects, unions): JSON text
    const area = el("textarea", { name: opts.name, rows: 3, class: "pg-raw", placeholder: "JSON" });
    area.value = initial === undefined ? "" : pretty(initial);
    return {
      node: wrapField(label, s, required, area, "json"),
      get: () => {
        if (area.value.trim() === "") return required ? { error: where + ": required" } : ABSENT;
        try {
          return { present: true, value: JSON.parse(area.value) };
        } catch (err) {
          return { error: where + ": not valid JSON (" + err.message + ")" };
        }
      },
    };
  }

  function buildObject(s, rootSchema, opts, label, required, initial) {
    const requiredNames = new Set(Array.isArray(s.required) ? s.required : []);
    const values = initial && typeof initial === "object" && !Array.isArray(initial) ? initial : {};
    const children = Object.entries(s.properties || {}).map(([name, child]) => [
      name,
      build(child, rootSchema, {
        name: name,
        label: name,
        required: requiredNames.has(name),
        value: values[name],
        path: opts.top ? name : (opts.path || label) + "." + name,
      }),
    ]);
    const container = opts.top
      ? el("div", { class: "pg-fields" }, children.map(([, w]) => w.node))
      : el(
          "fieldset",
          {},
          el("legend", {}, label, required ? el("span", { class: "req", text: "*" }) : null),
          s.description ? el("div", { class: "help", text: s.description }) : null,
          children.map(([, w]) => w.node)
        );
    return {
      node: container,
      get: () => {
        const value = {};
        for (const [name, widget] of children) {
          const got = widget.get();
          if (got.error) return got;
          if (got.present) value[name] = got.value;
        }
        if (!opts.top && !required && Object.keys(value).length === 0) return ABSENT;
        return { present: true, value: value };
      },
    };
  }

  function buildArray(s, rootSchema, opts, label, required, initial) {
    const items = [];
    const list = el("div", { class: "pg-fields" });
    const where = opts.path || label;
    function add(value) {
      const widget = build(s.items || {}, rootSchema, {
        label: label + " #" + (items.length + 1),
        required: true,
        value: value,
        path: where + "[" + items.length + "]",
      });
      const row = el("div", { class: "pg-array-item" }, widget.node);
      const entry = { widget: widget, row: row };
      row.append(
        el("button", {
          type: "button",
          class: "btn btn-sm",
          text: "Remove",
          onclick: () => {
            items.splice(items.indexOf(entry), 1);
            row.remove();
          },
        })
      );
      items.push(entry);
      list.append(row);
    }
    (Array.isArray(initial) ? initial : []).forEach((value) => add(value));
    const node = el(
      "fieldset",
      {},
      el("legend", {}, label, required ? el("span", { class: "req", text: "*" }) : null, el("span", { class: "type", text: "array" })),
      s.description ? el("div", { class: "help", text: s.description }) : null,
      list,
      el("div", {}, el("button", { type: "button", class: "btn btn-sm", text: "Add item", onclick: () => add(undefined) }))
    );
    return {
      node: node,
      get: () => {
        const value = [];
        for (const entry of items) {
          const got = entry.widget.get();
          if (got.error) return got;
          value.push(got.present ? got.value : null);
        }
        if (!required && value.length === 0) return ABSENT;
        return { present: true, value: value };
      },
    };
  }

  window.OmniSchemaForm = { el: el, build: build, wrapField: wrapField };
})();
