// The Query page's SQL editor: CodeJar (a small contenteditable editor) with highlight.js's
// PostgreSQL grammar, both served by Ratchet from its own node_modules. The textarea stays the
// form field: without JavaScript it is the editor, with it the highlighted editor writes into it.
import { CodeJar } from "/static/codejar.js";
import hljs from "/static/hljs-core.js";
import pgsql from "/static/hljs-pgsql.js";

hljs.registerLanguage("pgsql", pgsql);

const textarea = document.querySelector("textarea[data-sql-editor]");
if (textarea) {
  const editor = document.createElement("div");
  editor.className = "sql-editor hljs language-pgsql";
  editor.setAttribute("role", "textbox");
  editor.setAttribute("aria-multiline", "true");
  editor.setAttribute("aria-label", "SQL");
  editor.id = "query-sql-editor";
  textarea.after(editor);
  textarea.hidden = true;
  document.querySelector('label[for="query-sql"]')?.setAttribute("for", editor.id);
  const jar = CodeJar(editor, (element) => {
    // highlight() returns escaped HTML of the text it was given.
    element.innerHTML = hljs.highlight(element.textContent ?? "", { language: "pgsql", ignoreIllegals: true }).value;
  }, { tab: "  " });
  jar.updateCode(textarea.value);
  const sync = () => { textarea.value = jar.toString(); };
  jar.onUpdate(sync);
  editor.addEventListener("input", sync);
  textarea.form?.addEventListener("submit", sync);
  // Ctrl/Cmd+Enter runs the query.
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      sync();
      textarea.form?.querySelector('button[value="run"]')?.click();
    }
  });
}
