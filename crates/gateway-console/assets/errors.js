// Collects the page's errors (uncaught exceptions, rejected promises, console.error,
// Content-Security-Policy violations) in window.consoleErrors, so a test can read
// them. A classic script, loaded before the modules, so it sees their errors too.
(function () {
  "use strict";
  var errors = [];
  window.consoleErrors = errors;
  window.addEventListener("error", function (e) {
    var where = e.filename ? " (" + e.filename + ":" + e.lineno + ")" : "";
    var what = e.message || (e.target && (e.target.src || e.target.href)) || "resource failed";
    errors.push("error: " + what + where);
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    errors.push("unhandled rejection: " + (e.reason && e.reason.message || String(e.reason)));
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    errors.push("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
  });
  var original = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
})();
