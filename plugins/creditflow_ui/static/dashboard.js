// 数据看板 follows the Airflow UI's language: the UI keeps it in localStorage (i18nextLng) per browser.
// When it differs from the page's and the page was not asked for a language explicitly, reload with ?lang=.
(function () {
  "use strict";
  var page = document.getElementById("dashboard");
  if (!page) { return; }
  var ui = null;
  try { ui = window.localStorage.getItem("i18nextLng") || (window.parent && window.parent.localStorage.getItem("i18nextLng")); }
  catch (e) { ui = null; }
  if (!ui) { return; }
  var wanted = ui.toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var params = new URLSearchParams(window.location.search);
  if (params.get("lang") || wanted === page.getAttribute("data-lang")) { return; }
  params.set("lang", wanted);
  window.location.replace(window.location.pathname + "?" + params.toString());
})();
