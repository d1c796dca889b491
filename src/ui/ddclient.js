/* ddclient placeholder */ window.ddClient = {};
