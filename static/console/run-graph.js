// Draws the run's graph (#run-graph-source, Mermaid text escaped by the template); needs Mermaid first.
(function () {
  if (!window.mermaid) return;
  window.mermaid.initialize({startOnLoad: false, securityLevel: "strict", theme: "default", flowchart: {useMaxWidth: false}});
  window.mermaid.run({querySelector: "#run-graph-source"}).catch(function (error) {
    var note = document.createElement("p");
    note.className = "flash error";
    note.textContent = "The graph could not be drawn: " + (error && error.message ? error.message : error);
    document.getElementById("run-graph-source").before(note);
  });
})();
