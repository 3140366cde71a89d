// Quick exit: replace this page in the history with the neutral one (the Back button then does
// not return here, where the browser allows it), by the link or the Esc key. Also ticks "send
// to the education office" when the reporter says a teacher or staff member did it.
(function () {
  "use strict";
  function leave(event) {
    var link = document.getElementById("quick-exit");
    if (!link) { return; }
    if (event) { event.preventDefault(); }
    window.location.replace(link.href);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var link = document.getElementById("quick-exit");
    if (link) { link.addEventListener("click", leave); }
    var office = document.getElementById("office");
    var staff = document.querySelector('input[name="who_did"][value="teacher_staff"]');
    if (office && staff) {
      document.querySelectorAll('input[name="who_did"]').forEach(function (input) {
        input.addEventListener("change", function () { if (staff.checked) { office.checked = true; } });
      });
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" || event.key === "Esc") { leave(event); }
  });
}());
